// The door of every HTTP connection: malformed requests answered and closed, deadlines on the
// request head, the body and idle time, and graceful quiescing, whichever path answers.
import Foundation
import NIOCore
import NIOHTTP1

/// Sits right behind NIO's HTTP/1 decoder, in front of the fast path and the router, and sees
/// every request part in and every answer part out. It keeps the connection's promises:
///
/// - **A malformed request never reaches the answer paths.** A parse error (bad framing, a bad
///   `Content-Length`, an unknown version, a head past `request_head_bytes_max`, ...) is answered
///   here with a problem document and `Connection: close`, after the answers already owed to
///   earlier requests of the connection, and the connection is closed. Hummingbird never sees the
///   error, so nothing answers a request that no path was given (the fast path's in-flight
///   accounting stays exact).
/// - **Deadlines**: the head must be complete `request_head_timeout_ms` after its first byte, the
///   body `request_body_timeout_ms` after the head (else 408, close), and a connection with
///   nothing in progress is closed after `connection_idle_timeout_ms`. A connection whose answer is
///   still being written (a write waiting for its fsync, an event stream) is never cut off.
/// - **Quiescing**: on a graceful shutdown it closes at once when nothing is outstanding, else
///   right after the last answer.
///
/// After its own refusal is written, it drops whatever the answer paths still write (they write
/// to a connection that is closing), so nothing follows the refusal on the wire.
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    struct Timeouts {
        let idle: TimeAmount
        let head: TimeAmount
        let body: TimeAmount

        init(_ limits: HTTPLimits) {
            idle = .milliseconds(Int64(limits.connectionIdleTimeoutMs))
            head = .milliseconds(Int64(limits.requestHeadTimeoutMs))
            body = .milliseconds(Int64(limits.requestBodyTimeoutMs))
        }
    }

    private enum Phase {
        /// Reading and answering requests.
        case open
        /// A refusal waits for the answers owed before it.
        case refusing(RequestRefusal)
        /// The refusal is written (or the connection is being closed): nothing more goes out.
        case closing
    }

    let timeouts: Timeouts
    let door: DoorCounters
    private var phase = Phase.open
    /// Heads passed on, and answers the paths ended: their difference is the answers owed.
    private var headsRead = 0
    private var answersEnded = 0
    /// An answer's head went out and its end has not.
    private var answerOpen = false
    /// A head was passed on and its end has not been read.
    private var requestOpen = false
    private var lastActive = NIODeadline.now()
    /// The first byte of a request whose head is not complete yet.
    private var headStarted: NIODeadline?
    /// When the open request's head was read.
    private var bodyStarted = NIODeadline.now()
    /// Close once every answer owed is given: at once (a graceful shutdown), or lingering (an
    /// upgrade request, after which nothing more is read).
    private var closeAfterAnswers: CloseStyle?
    private enum CloseStyle { case close, linger }
    private var check: Scheduled<Void>?
    private var checkAt: NIODeadline?
    private var refusingSince = NIODeadline.now()
    /// No more bytes are read from the socket (an upgrade request is being answered).
    private var suppressReads = false
    private var readPending = false
    /// The connection's first byte: 0x16 is a TLS ClientHello sent to this plain-HTTP port.
    fileprivate var firstByte: UInt8?

    init(timeouts: Timeouts, door: DoorCounters) {
        self.timeouts = timeouts
        self.door = door
    }

    /// The handler to put in front of the decoder: it tells this guard when bytes arrive, which
    /// the head deadline counts from (the decoder shows nothing of a head until it is whole).
    func byteWatcher() -> ByteWatcher { ByteWatcher(self) }

    private var answersOwed: Int { headsRead - answersEnded }

    // MARK: In

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { rearm(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        lastActive = .now()
        rearm(context)
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) { cancelCheck() }

    func channelInactive(context: ChannelHandlerContext) {
        cancelCheck()
        phase = .closing
        context.fireChannelInactive()
    }

    /// Whether bytes read from the socket still go to the decoder (not once the connection closes).
    fileprivate var takesBytes: Bool {
        if case .closing = phase { return false }
        return true
    }

    /// Bytes were read from the socket (called by the `ByteWatcher`, before the decoder runs).
    fileprivate func bytesArrived(context: ChannelHandlerContext?) {
        let now = NIODeadline.now()
        lastActive = now
        if !requestOpen && headStarted == nil {
            headStarted = now
            if let context { rearm(context) }
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .open = phase else { return }  // refusing: the rest of the connection is not read
        lastActive = .now()
        switch unwrapInboundIn(data) {
        case .head(let head):
            headsRead += 1
            requestOpen = true
            headStarted = nil
            bodyStarted = lastActive
            if ConnectionGuard.asksForUpgrade(head) {
                // NIO's decoder stops parsing after an upgrade request and would buffer whatever
                // follows without bound: this request is answered (the upgrade is ignored, as
                // RFC 9110 allows), nothing more is read, and the connection is closed after it.
                suppressReads = true
                closeAfterAnswers = .linger
            }
        case .body:
            break
        case .end:
            requestOpen = false
        }
        rearm(context)
        context.fireChannelRead(data)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if let parseError = error as? HTTPParserError {
            guard context.channel.isActive, case .open = phase else {
                // The client closed mid-request (or a refusal is already under way): nobody to answer.
                door.record(RequestRefusal(parseError: parseError, firstByte: firstByte).reason)
                return
            }
            refuse(RequestRefusal(parseError: parseError, firstByte: firstByte), context: context)
            return
        }
        if error is ByteToMessageDecoderError {
            return  // bytes after a parse error: the refusal is under way
        }
        context.fireErrorCaught(error)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is ChannelShouldQuiesceEvent else { return context.fireUserInboundEventTriggered(event) }
        if answersOwed == 0 && !requestOpen && headStarted == nil {
            phase = .closing
            context.close(promise: nil)
        } else if closeAfterAnswers == nil {
            closeAfterAnswers = .close
        }
    }

    /// CONNECT, or any `Upgrade` header: a superset of what makes NIO's decoder stop parsing.
    static func asksForUpgrade(_ head: HTTPRequestHead) -> Bool {
        head.method == .CONNECT || head.headers.contains(name: "upgrade")
    }

    // MARK: Out

    func read(context: ChannelHandlerContext) {
        if suppressReads {
            readPending = true
        } else {
            context.read()
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .closing = phase {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        switch unwrapOutboundIn(data) {
        case .head:
            answerOpen = true
            context.write(data, promise: promise)
        case .body:
            context.write(data, promise: promise)
        case .end:
            answerOpen = false
            answersEnded += 1
            precondition(answersEnded <= headsRead, "an answer ended for a request no path was given")
            lastActive = .now()
            if case .refusing(let refusal) = phase {
                context.write(data, promise: promise)
                writeRefusalIfDue(refusal, context: context)
            } else if let style = closeAfterAnswers, answersOwed == 0 && !requestOpen {
                phase = .closing
                cancelCheck()
                let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
                context.writeAndFlush(data).whenComplete { _ in
                    let (handler, context) = loopBound.value
                    if style == .linger { handler.linger(context) } else { context.close(promise: nil) }
                }
                promise?.succeed()
            } else {
                context.write(data, promise: promise)
                rearm(context)
            }
        }
    }

    // MARK: Refusals and deadlines

    private func refuse(_ refusal: RequestRefusal, context: ChannelHandlerContext) {
        door.record(refusal.reason)
        door.log(refusal, remote: context.channel.remoteAddress)
        phase = .refusing(refusal)
        refusingSince = .now()
        writeRefusalIfDue(refusal, context: context)
        if case .refusing = phase { rearm(context) }
    }

    /// Writes the refusal once every answer owed to an earlier, whole request has been given and
    /// no answer is half written. The request being read when it was refused is never answered by
    /// a path (it has no end), unless a path answered it early; either way it is not waited for.
    private func writeRefusalIfDue(_ refusal: RequestRefusal, context: ChannelHandlerContext) {
        guard !answerOpen, answersOwed <= (requestOpen ? 1 : 0) else { return }
        phase = .closing
        cancelCheck()
        let body = context.channel.allocator.buffer(string: refusal.problem.bodyText(instance: nil))
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/problem+json")
        headers.add(name: "Content-Length", value: String(body.readableBytes))
        headers.add(name: "Connection", value: "close")
        headers.add(name: "Server", value: "wallet")
        for field in refusal.problem.headers { headers.add(name: field.name.rawName, value: field.value) }
        let head = HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: refusal.problem.status.code), headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            let (handler, context) = loopBound.value
            handler.linger(context)
        }
    }

    /// After a refusal: the output is shut (the client reads the refusal, then end of stream) and
    /// what the client still sends is read and dropped for at most `lingerTimeout`, so that its
    /// unread bytes do not make the kernel reset the connection before the refusal is read.
    private func linger(_ context: ChannelHandlerContext) {
        guard context.channel.isActive else { return }
        context.close(mode: .output, promise: nil)
        suppressReads = false
        context.read()
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.eventLoop.scheduleTask(in: ConnectionGuard.lingerTimeout) { loopBound.value.close(promise: nil) }
    }

    /// How long a refused connection's remaining input is read and dropped before it is closed.
    static let lingerTimeout = TimeAmount.seconds(2)

    /// The next moment something is due, and what.
    private func nextDeadline() -> (NIODeadline, Due)? {
        switch phase {
        case .closing: return nil
        // Owed answers that never come must not hold the connection open for ever.
        case .refusing: return (refusingSince + timeouts.idle, .refusalOverdue)
        case .open: break
        }
        // A request being read is also cut off when its client goes silent for the idle timeout.
        let silent = lastActive + timeouts.idle
        if requestOpen { return bodyStarted + timeouts.body <= silent ? (bodyStarted + timeouts.body, .body) : (silent, .silentInRequest) }
        if let headStarted { return headStarted + timeouts.head <= silent ? (headStarted + timeouts.head, .head) : (silent, .silentInRequest) }
        if answersOwed > 0 { return nil }  // answering: request_timeout_ms bounds writes; streams stay open
        return (silent, .idle)
    }

    private enum Due { case idle, head, body, silentInRequest, refusalOverdue }

    /// Keeps one check scheduled at the next deadline (earlier if the deadline moved earlier; a
    /// check that finds the deadline moved later schedules itself again).
    private func rearm(_ context: ChannelHandlerContext) {
        guard let (deadline, _) = nextDeadline() else { return }
        if let checkAt, check != nil, checkAt <= deadline { return }
        cancelCheck()
        checkAt = deadline
        let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        check = context.eventLoop.scheduleTask(deadline: deadline) {
            let (handler, context) = loopBound.value
            handler.check = nil
            handler.checkAt = nil
            handler.deadlineCheck(context)
        }
    }

    private func cancelCheck() {
        check?.cancel()
        check = nil
        checkAt = nil
    }

    private func deadlineCheck(_ context: ChannelHandlerContext) {
        guard context.channel.isActive, let (deadline, due) = nextDeadline() else { return }
        guard NIODeadline.now() >= deadline else { return rearm(context) }
        switch due {
        case .idle:
            door.record(.idleTimeout)
            phase = .closing
            context.close(promise: nil)
        case .head:
            refuse(.tooSlow(.head, silent: false, limit: timeouts.head), context: context)
        case .body:
            refuse(.tooSlow(.body, silent: false, limit: timeouts.body), context: context)
        case .silentInRequest:
            refuse(.tooSlow(requestOpen ? .body : .head, silent: true, limit: timeouts.idle), context: context)
        case .refusalOverdue:
            phase = .closing
            context.close(promise: nil)
        }
    }
}

/// Tells the guard when bytes arrive; placed before the HTTP decoder. Passes them on, except once
/// the connection is closing: then they are dropped (a lingering close reads and discards them).
final class ByteWatcher: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    private let connectionGuard: ConnectionGuard
    private var guardContext: ChannelHandlerContext?

    fileprivate init(_ connectionGuard: ConnectionGuard) { self.connectionGuard = connectionGuard }

    func handlerAdded(context: ChannelHandlerContext) {
        guardContext = try? context.pipeline.syncOperations.context(handler: connectionGuard)
    }

    func handlerRemoved(context: ChannelHandlerContext) { guardContext = nil }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if guardContext == nil { guardContext = try? context.pipeline.syncOperations.context(handler: connectionGuard) }
        if connectionGuard.firstByte == nil { connectionGuard.firstByte = unwrapInboundIn(data).getInteger(at: unwrapInboundIn(data).readerIndex) }
        guard connectionGuard.takesBytes else { return }
        connectionGuard.bytesArrived(context: guardContext)
        context.fireChannelRead(data)
    }
}
