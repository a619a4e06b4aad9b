// A bounded FIFO between threads: a full queue blocks the producer (backpressure), never grows.
import Foundation

final class BlockingQueue<Element>: @unchecked Sendable {
    private let condition = NSCondition()
    private var items: [Element] = []
    private var head = 0
    let capacity: Int

    init(capacity: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
    }

    func push(_ item: Element) {
        condition.lock()
        while items.count - head >= capacity { condition.wait() }
        items.append(item)
        condition.broadcast()
        condition.unlock()
    }

    func pop() -> Element {
        condition.lock()
        while items.count == head { condition.wait() }
        let item = takeLocked()
        condition.unlock()
        return item
    }

    func tryPop() -> Element? {
        condition.lock()
        defer { condition.unlock() }
        guard items.count > head else { return nil }
        return takeLocked()
    }

    private func takeLocked() -> Element {
        let item = items[head]
        head += 1
        if head > 1024 && head * 2 > items.count {
            items.removeFirst(head)
            head = 0
        }
        condition.broadcast()
        return item
    }
}
