// Answers that wait on other threads, each given once, and the sweep that times them out.
import Foundation
import Replica

/// What the sweep needs of an answer (whatever it answers with).
protocol Expiring: AnyObject {
    var deadlineNs: UInt64 { get }
    var isAnswered: Bool { get }
    func expire(timeoutMs: Int)
}

/// An answer given once: by the work it waits for, or by the deadline sweep, whichever is first
/// (a later attempt is ignored).
final class AnswerOnce<Value: Sendable>: Expiring, @unchecked Sendable {
    private let lock = NSLock()
    private var completion: (@Sendable (Result<Value, Error>) -> Void)?
    /// `monotonicNowNs` past which the sweep answers `Problem.timeout`.
    let deadlineNs: UInt64

    init(deadlineNs: UInt64, _ completion: @escaping @Sendable (Result<Value, Error>) -> Void) {
        self.deadlineNs = deadlineNs
        self.completion = completion
    }

    private func take() -> (@Sendable (Result<Value, Error>) -> Void)? {
        lock.lock()
        defer { lock.unlock() }
        let taken = completion
        completion = nil
        return taken
    }

    var isAnswered: Bool {
        lock.lock()
        defer { lock.unlock() }
        return completion == nil
    }

    func resume(returning value: Value) { take()?(.success(value)) }
    func resume(throwing error: Error) { take()?(.failure(error)) }
    func expire(timeoutMs: Int) { resume(throwing: Problem.timeout(timeoutMs)) }
}

/// Every answer not yet known given, in submission order per timeout. Requests of one kind wait
/// the same time (`request_timeout_ms`; the compactor's hand-over waits longer), so in each queue
/// the first deadline is the soonest: one timer sweeps the fronts every `timeoutSweepIntervalMs`
/// instead of a timer per request (which cost a quarter of the write throughput at 27K/s).
final class DeadlineSweeper: @unchecked Sendable {
    static let timeoutSweepIntervalMs = 20

    private struct Queue {
        var entries: [any Expiring] = []
        var first = 0
    }

    private let lock = NSLock()
    private var queues: [Int: Queue] = [:]
    private var timer: DispatchSourceTimer?

    func add(_ answer: any Expiring, timeoutMs: Int) {
        lock.lock()
        defer { lock.unlock() }
        queues[timeoutMs, default: Queue()].entries.append(answer)
    }

    /// Drops given answers from the fronts and times out those past their deadline.
    func sweep(nowNs: UInt64) {
        var expired: [(any Expiring, Int)] = []
        lock.lock()
        for timeoutMs in queues.keys {
            var queue = queues.removeValue(forKey: timeoutMs)!
            while queue.first < queue.entries.count,
                  queue.entries[queue.first].isAnswered || queue.entries[queue.first].deadlineNs <= nowNs {
                if !queue.entries[queue.first].isAnswered { expired.append((queue.entries[queue.first], timeoutMs)) }
                queue.first += 1
            }
            if queue.first > 4096 && queue.first * 2 > queue.entries.count {
                queue.entries.removeFirst(queue.first)
                queue.first = 0
            }
            queues[timeoutMs] = queue
        }
        lock.unlock()
        for (answer, timeoutMs) in expired { answer.expire(timeoutMs: timeoutMs) }
    }

    /// Sweeps every `timeoutSweepIntervalMs` on a queue of its own, from now on.
    func start(label: String) {
        let timer = DispatchSource.makeTimerSource(queue: DispatchQueue(label: label))
        timer.schedule(deadline: .now(), repeating: .milliseconds(DeadlineSweeper.timeoutSweepIntervalMs))
        timer.setEventHandler { [weak self] in self?.sweep(nowNs: monotonicNowNs()) }
        timer.resume()
        self.timer = timer
    }

    deinit { timer?.cancel() }
}
