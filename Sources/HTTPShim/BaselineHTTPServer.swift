// The ceiling the REST API is measured against: bare SwiftNIO HTTP/1.1 with no router, no JSON and
// no ledger, answering every request with the same small 200 (`wallet http-baseline`).
import NIOCore
import NIOHTTP1
import NIOPosix

/// A fixed-answer HTTP/1.1 server on SwiftNIO's own pipeline (keep-alive, one event loop per
/// core, as Hummingbird runs). `make bench-http` drives it with the same wrk settings as the API, so
/// the figures of each run say how much of the machine the HTTP stack alone leaves.
public enum BaselineHTTPServer {
    /// Serves until the process ends; `onListening` gets the bound port.
    public static func run(host: String, port: Int, onListening: @escaping @Sendable (Int) -> Void) throws {
        let group = MultiThreadedEventLoopGroup.singleton
        let channel = try ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 1024)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline(withErrorHandling: true).flatMap {
                    channel.pipeline.addHandler(FixedAnswerHandler())
                }
            }
            .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .bind(host: host, port: port).wait()
        onListening(channel.localAddress?.port ?? 0)
        try channel.closeFuture.wait()
    }
}

/// Answers each request, once its end arrives, with `{"status":"ok"}`.
private final class FixedAnswerHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private static let body = #"{"status":"ok"}"#
    private var keepAlive = true

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            keepAlive = head.isKeepAlive
        case .body:
            break
        case .end:
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "application/json")
            headers.add(name: "Content-Length", value: String(FixedAnswerHandler.body.utf8.count))
            if !keepAlive { headers.add(name: "Connection", value: "close") }
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
            let buffer = context.channel.allocator.buffer(string: FixedAnswerHandler.body)
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
            let keepAlive = self.keepAlive
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { [channel = context.channel] _ in
                if !keepAlive { channel.close(promise: nil) }
            }
        }
    }
}
