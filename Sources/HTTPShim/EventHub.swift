// Push: server-sent events of balance changes, fed by the writer after each applied batch.
import Foundation
import Hummingbird
import LedgerCore

/// Subscribers to one account's changes. The writer calls `publish` right after a batch is
/// durable, applied and in the read model, so an event never announces anything not yet readable.
/// A slow subscriber's buffer holds at most `event_buffer_max` events; past that the oldest are
/// dropped and the client is told to resynchronise (`event: lagged`).
final class EventHub: @unchecked Sendable {
    /// Events buffered per subscriber before the oldest are dropped.
    static let eventBufferMax = 1024

    enum Event: Sendable {
        case balance(Account, op: UInt64)
    }

    private let lock = NSLock()
    private var subscribers: [UInt128: [UInt64: AsyncStream<Event>.Continuation]] = [:]
    private var nextToken: UInt64 = 1

    /// A stream of the account's changes from now on; it ends when the client goes away.
    func subscribe(_ accountId: UInt128) -> AsyncStream<Event> {
        let (stream, continuation) = AsyncStream<Event>.makeStream(bufferingPolicy: .bufferingNewest(EventHub.eventBufferMax))
        lock.lock()
        let token = nextToken
        nextToken += 1
        subscribers[accountId, default: [:]][token] = continuation
        lock.unlock()
        continuation.onTermination = { [weak self] _ in self?.unsubscribe(accountId, token) }
        return stream
    }

    private func unsubscribe(_ accountId: UInt128, _ token: UInt64) {
        lock.lock()
        subscribers[accountId]?[token] = nil
        if subscribers[accountId]?.isEmpty == true { subscribers[accountId] = nil }
        lock.unlock()
    }

    var subscriberCount: Int {
        lock.lock()
        defer { lock.unlock() }
        return subscribers.values.reduce(0) { $0 + $1.count }
    }

    /// The writer: these accounts changed in batch `op`.
    func publish(_ changed: [Account], op: UInt64) {
        lock.lock()
        guard !subscribers.isEmpty else { lock.unlock(); return }
        var deliveries: [(AsyncStream<Event>.Continuation, Event)] = []
        for account in changed {
            guard let listeners = subscribers[account.id] else { continue }
            for continuation in listeners.values { deliveries.append((continuation, .balance(account, op: op))) }
        }
        lock.unlock()
        for (continuation, event) in deliveries { continuation.yield(event) }
    }
}

/// One server-sent event: `id` (the op), `event` (its kind), `data` (one JSON line).
func serverSentEvent(id: UInt64?, event: String, _ object: [String: Any]) -> ByteBuffer {
    var text = ""
    if let id { text += "id: \(id)\n" }
    text += "event: \(event)\ndata: " + JSONText.encode(object) + "\n\n"
    return ByteBuffer(string: text)
}
