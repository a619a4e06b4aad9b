// Idle connections and graceful shutdown, for every request whichever path answers it.
import NIOCore
import NIOHTTP1

/// Closes a connection that has been idle for `connection_idle_timeout_ms`: no request part read
/// and no answer outstanding for that long (a slow client that never finishes its request is idle
/// too). On a graceful shutdown (`ChannelShouldQuiesceEvent`) it closes the connection at once
/// when no request is outstanding, else right after the last answer. It sees every request, the
/// fast path's and the router's, which is why it sits in front of both.
final class ConnectionIdleHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    let idleTimeout: TimeAmount
    /// Requests whose head was read and whose answer has not ended.
    private var outstanding = 0
    private var readingRequest = false
    private var lastActive = NIODeadline.now()
    private var closeAfterAnswers = false
    private var check: Scheduled<Void>?

    init(idleTimeout: TimeAmount) { self.idleTimeout = idleTimeout }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { armCheck(context, at: .now() + idleTimeout) }
    }

    func channelActive(context: ChannelHandlerContext) {
        lastActive = .now()
        armCheck(context, at: lastActive + idleTimeout)
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        check?.cancel()
        check = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        lastActive = .now()
        switch unwrapInboundIn(data) {
        case .head:
            outstanding += 1
            readingRequest = true
        case .body:
            break
        case .end:
            readingRequest = false
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .end = unwrapOutboundIn(data) else { return context.write(data, promise: promise) }
        outstanding -= 1
        guard outstanding == 0 else { return context.write(data, promise: promise) }
        if closeAfterAnswers {
            context.writeAndFlush(data, promise: promise)
            context.close(promise: nil)
            return
        }
        lastActive = .now()
        armCheck(context, at: lastActive + idleTimeout)
        context.write(data, promise: promise)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is ChannelShouldQuiesceEvent else { return context.fireUserInboundEventTriggered(event) }
        if outstanding > 0 { closeAfterAnswers = true } else { context.close(promise: nil) }
    }

    /// One check at a time: when it runs, a connection busy answering is left alone (the last
    /// answer arms the next check), one active since is checked again later, else it is closed.
    private func armCheck(_ context: ChannelHandlerContext, at deadline: NIODeadline) {
        guard check == nil else { return }
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        check = context.eventLoop.scheduleTask(deadline: deadline) {
            let (handler, context) = loopBound.value
            handler.check = nil
            guard context.channel.isActive, !(handler.outstanding > 0 && !handler.readingRequest) else { return }
            let due = handler.lastActive + handler.idleTimeout
            if NIODeadline.now() >= due { context.close(promise: nil) } else { handler.armCheck(context, at: due) }
        }
    }
}
