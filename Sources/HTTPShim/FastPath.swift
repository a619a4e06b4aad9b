// The hot requests on the event loop: `GET /v1/wallet/accounts/{id}`, `GET /healthz` and
// `POST /v1/wallet/balance_transfer` handled where they were decoded, without the trip through
// Hummingbird's async request pipeline (a task and two thread hops per request).
import Foundation
import HTTPTypes
import HummingbirdCore
import LedgerCore
import Logging
import Metrics
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1

/// What the fast path answers from and writes to.
struct FastPathContext: Sendable {
    let readModel: ReadModel
    let backend: any LedgerBackend
    let keys: APIKeys
    let limits: HTTPLimits
    /// Shared with the router's `InFlightLimit`: a fast write holds a slot as a routed one does.
    let inFlight: InFlightCounter
}

/// Hummingbird's HTTP/1.1 child channel with the fast path in front: NIO's HTTP/1.1 codec (with
/// `ByteWatcher` before its decoder), then `ConnectionGuard` (malformed requests, deadlines, idle
/// time and graceful quiescing, for every request whichever path answers it), then
/// `FastPathHandler`, and only then the conversion to HTTPTypes and the router.
/// The hot requests never pay for the conversion (a sixth of the event loops' time under `POST`).
struct WalletHTTP1Channel: ServerChildChannel, HTTPChannelHandler {
    typealias Value = NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>

    let responder: HTTPChannelHandler.Responder
    let limits: HTTPLimits
    let door: DoorCounters
    let fast: FastPathContext

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            var decoderLimits = NIOHTTPDecoderLimitConfiguration()
            decoderLimits.maxHeaderFieldSize = limits.requestHeadBytesMax
            decoderLimits.maxHeaderListSize = limits.requestHeadBytesMax
            decoderLimits.maxHeaderFieldCount = limits.requestHeaderFieldsMax
            try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                withPipeliningAssistance: false, withErrorHandling: false, withOutboundHeaderValidation: false,
                withEncoderConfiguration: .init(), withDecoderLimitConfiguration: decoderLimits)
            let connectionGuard = ConnectionGuard(timeouts: .init(limits), door: door)
            try channel.pipeline.syncOperations.addHandler(connectionGuard.byteWatcher(), position: .first)
            try channel.pipeline.syncOperations.addHandler(connectionGuard)
            try channel.pipeline.syncOperations.addHandler(FastPathHandler(fast))
            try channel.pipeline.syncOperations.addHandler(HTTP1ToHTTPServerCodec(secure: false))
            return try NIOAsyncChannel(wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
        }
    }

    func handle(value asyncChannel: Value, logger: Logger) async {
        await handleHTTP(asyncChannel: asyncChannel, logger: logger)
    }
}

/// Answers the hottest requests on the event loop, with the same bytes, headers and request
/// metrics the router gives:
/// - reads: a read-lock look-up in the read model and `writeAccountText`;
/// - transfers: a strict parse of the ordinary body (five string fields, nothing escaped), the
///   same validation, then the writer with a completion instead of a task; the answer
///   (`transferAnswer`, or the problem) is written when the batch is durable and applied.
///
/// It only takes a request whose answer cannot differ from the router's and cannot overtake it:
/// no query string, a connection kept alive, no `Expect` header, what the keys allow, an account that exists,
/// a body that parses and validates (every other body goes to the router, which says what is
/// wrong), a free `in_flight_requests_max` slot, and no earlier request of this connection still
/// with the router. While its own write is outstanding it reads nothing more from the connection
/// (parts already read wait), so HTTP/1.1 answers stay in request order.
final class FastPathHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private static let accountsPrefix = "/v1/wallet/accounts/"
    private static let transferPath = "/v1/wallet/balance_transfer"
    private static let healthText: StaticString = #"{"status":"ok"}"#

    /// The request being read: routed, a read answered at its end, or a transfer whose body is
    /// being gathered.
    private enum Reading {
        case idle
        case routed
        case read(body: ByteBuffer, route: FastRoute)
        case transfer(head: HTTPRequestHead, body: ByteBuffer)
    }

    let fast: FastPathContext
    private var reading = Reading.idle
    /// Requests of this connection handed to the router whose answer has not ended yet.
    private var routedInFlight = 0
    /// A transfer of this connection is with the writer; what arrives meanwhile waits in `held`.
    private var writeInFlight = false
    private var held: [HTTPServerRequestPart] = []
    private var readSuppressed = false
    private var requestStartNs: UInt64 = 0
    private var needsFlush = false
    private var dateText = ""
    private var dateSecond = 0

    init(_ fast: FastPathContext) { self.fast = fast }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if writeInFlight {
            held.append(part)
            return
        }
        handle(part, context: context)
    }

    private func handle(_ part: HTTPServerRequestPart, context: ChannelHandlerContext) {
        switch part {
        case .head(let head):
            guard case .idle = reading else { preconditionFailure("a request head arrived inside another request") }
            if routedInFlight == 0 && head.isKeepAlive {
                if let (body, route) = readAnswer(head, context.channel.allocator) {
                    reading = .read(body: body, route: route)
                    requestStartNs = DispatchTime.now().uptimeNanoseconds
                    return
                }
                if isFastTransfer(head) {
                    reading = .transfer(head: head, body: context.channel.allocator.buffer(capacity: 256))
                    requestStartNs = DispatchTime.now().uptimeNanoseconds
                    return
                }
            }
            route(part, context: context)
        case .body(let bytes):
            switch reading {
            case .routed: context.fireChannelRead(wrapInboundOut(part))
            case .read: break  // a GET's body, if any, means nothing here
            case .transfer(let head, var body):
                guard body.readableBytes + bytes.readableBytes <= fast.limits.requestBodyBytesMax else {
                    // Too large for us: the router gathers it and answers 413.
                    route(.head(head), context: context)
                    context.fireChannelRead(wrapInboundOut(.body(body)))
                    context.fireChannelRead(wrapInboundOut(part))
                    return
                }
                reading = .idle  // drop the reference the enum holds, so the append does not copy
                body.writeImmutableBuffer(bytes)
                reading = .transfer(head: head, body: body)
            case .idle: preconditionFailure("a body outside a request")
            }
        case .end:
            let finished = reading
            reading = .idle
            switch finished {
            case .routed:
                context.fireChannelRead(wrapInboundOut(part))
            case .read(let body, let route):
                write(200, body: body, context: context)
                route.record(status: 200, elapsedNs: DispatchTime.now().uptimeNanoseconds - requestStartNs)
            case .transfer(let head, let body):
                if let (transfer, transactionText) = FastTransferBody.parse(body), fast.inFlight.enter(limit: fast.limits.inFlightRequestsMax) {
                    submit(transfer, transactionText: transactionText, context: context)
                } else {
                    route(.head(head), context: context)
                    context.fireChannelRead(wrapInboundOut(.body(body)))
                    context.fireChannelRead(wrapInboundOut(part))
                    reading = .idle
                }
            case .idle:
                preconditionFailure("an end outside a request")
            }
        }
    }

    private func route(_ head: HTTPServerRequestPart, context: ChannelHandlerContext) {
        routedInFlight += 1
        reading = .routed
        context.fireChannelRead(wrapInboundOut(head))
    }

    private func submit(_ transfer: Transfer, transactionText: String, context: ChannelHandlerContext) {
        writeInFlight = true
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let eventLoop = context.eventLoop
        fast.backend.submit(.transfer(transfer), timeoutMs: fast.limits.requestTimeoutMs) { result in
            eventLoop.execute {
                let (handler, context) = loopBound.value
                handler.finishTransfer(result, id: transfer.id, transactionText: transactionText, context: context)
            }
        }
    }

    private func finishTransfer(_ result: Result<WriteOutcome, Error>, id: UInt128, transactionText: String, context: ChannelHandlerContext) {
        fast.inFlight.leave()
        writeInFlight = false
        var status = 200
        do {
            let answer = try transferAnswer(try result.get(), id: id, transactionText: transactionText)
            status = answer.status.code
            write(status, body: answer.body, context: context)
        } catch {
            let problem = error as? Problem ?? Problem.unavailable("\(error)")
            status = problem.status.code
            write(status, body: context.channel.allocator.buffer(string: problem.bodyText(instance: FastPathHandler.transferPath)),
                  extraHeaders: problem.answerHeaders, context: context)
        }
        FastRoute.transfer.record(status: status, elapsedNs: DispatchTime.now().uptimeNanoseconds - requestStartNs)
        // What arrived meanwhile, in order, until another write has to wait.
        let waiting = held
        held = []
        for (index, part) in waiting.enumerated() {
            if writeInFlight {
                held.append(contentsOf: waiting[index...])
                break
            }
            handle(part, context: context)
        }
        needsFlush = false
        context.flush()
        // Parts handed to the router here, outside a read, are delivered by the read-complete
        // that NIOAsyncChannel waits for.
        if !waiting.isEmpty { context.fireChannelReadComplete() }
        if readSuppressed && !writeInFlight {
            readSuppressed = false
            context.read()
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if needsFlush {
            needsFlush = false
            context.flush()
        }
        context.fireChannelReadComplete()
    }

    func read(context: ChannelHandlerContext) {
        if writeInFlight {
            readSuppressed = true
        } else {
            context.read()
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) {
            precondition(routedInFlight > 0, "the router ended an answer it was not given")
            routedInFlight -= 1
        }
        context.write(data, promise: promise)
    }

    /// The answer's body when the fast path may give it; nil to route the request.
    private func readAnswer(_ head: HTTPRequestHead, _ allocator: ByteBufferAllocator) -> (ByteBuffer, FastRoute)? {
        guard head.method == .GET, fast.keys.refusal(authorization: head.headers.first(name: "authorization"), write: false) == nil else { return nil }
        let path = head.uri
        if path == "/healthz" { return (allocator.buffer(staticString: FastPathHandler.healthText), .health) }
        guard path.hasPrefix(FastPathHandler.accountsPrefix) else { return nil }
        let idText = path.dropFirst(FastPathHandler.accountsPrefix.count)
        guard let id = Identifier.account(String(idText)) else { return nil }  // '?', '/', bad ids: the router says why
        let (found, op) = fast.readModel.account(id: id)
        guard let found else { return nil }
        var body = allocator.buffer(capacity: 320)
        writeAccountText(found, op: op, into: &body)
        return (body, .account)
    }

    private func isFastTransfer(_ head: HTTPRequestHead) -> Bool {
        head.method == .POST && head.uri == FastPathHandler.transferPath && !head.headers.contains(name: "expect")
            && fast.keys.refusal(authorization: head.headers.first(name: "authorization"), write: true) == nil
    }

    private func write(_ status: Int, body: ByteBuffer, extraHeaders: HTTPFields? = nil, context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        headers.reserveCapacity(5)
        headers.add(name: "Content-Type", value: "application/json")
        if let extraHeaders {
            for field in extraHeaders {
                if field.name == .contentType { headers.replaceOrAdd(name: "Content-Type", value: field.value) } else { headers.add(name: field.name.rawName, value: field.value) }
            }
        }
        headers.add(name: "Content-Length", value: String(body.readableBytes))
        headers.add(name: "Date", value: httpDate())
        headers.add(name: "Server", value: "wallet")
        let head = HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: status), headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        context.write(wrapOutboundOut(.end(nil)), promise: nil)
        needsFlush = true
    }

    /// The `Date` header (RFC 9110 IMF-fixdate), formatted once a second per connection.
    private func httpDate() -> String {
        var now = time_t()
        time(&now)
        let second = Int(now)
        if second != dateSecond {
            dateSecond = second
            var parts = tm()
            gmtime_r(&now, &parts)
            var buffer = [CChar](repeating: 0, count: 40)
            let count = strftime(&buffer, buffer.count, "%a, %d %b %Y %H:%M:%S GMT", &parts)
            dateText = String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        return dateText
    }
}

/// The request metrics of a fast answer: the same series Hummingbird's `MetricsMiddleware` writes
/// for the route, so `/metrics` counts every request once, whichever path answered it.
enum FastRoute {
    case account
    case health
    case transfer

    private static let accountMetrics = RouteMetrics(route: "/v1/wallet/accounts/{id}", method: "GET", status: 200)
    private static let healthMetrics = RouteMetrics(route: "/healthz", method: "GET", status: 200)
    private static let transferCreated = RouteMetrics(route: "/v1/wallet/balance_transfer", method: "POST", status: 201)

    func record(status: Int, elapsedNs: UInt64) {
        let metrics: RouteMetrics
        switch self {
        case .account: metrics = FastRoute.accountMetrics
        case .health: metrics = FastRoute.healthMetrics
        case .transfer: metrics = status == 201 ? FastRoute.transferCreated : RouteMetrics(route: "/v1/wallet/balance_transfer", method: "POST", status: status)
        }
        metrics.requests.increment()
        metrics.fastAnswers.increment()
        metrics.duration.recordNanoseconds(Int64(elapsedNs))
        if status >= 400 { metrics.errors?.increment() }
    }
}

private struct RouteMetrics {
    let requests: Counter
    let duration: Metrics.Timer
    let errors: Counter?
    /// Of `requests`, those the fast path answered (`wallet_fast_path_answers`).
    let fastAnswers: Counter

    init(route: String, method: String, status: Int) {
        let dimensions = [("http.route", route), ("http.request.method", method), ("http.response.status_code", String(status))]
        requests = Counter(label: "hb.requests", dimensions: dimensions)
        fastAnswers = Counter(label: "wallet.fast_path_answers", dimensions: dimensions)
        duration = Metrics.Timer(label: "http.server.request.duration", dimensions: dimensions, preferredDisplayUnit: .seconds)
        errors = status >= 400 ? Counter(label: "hb.request.errors", dimensions: [("http.route", route), ("http.request.method", method), ("error.type", String(status))]) : nil
    }
}
