// The simulated network: drops, delays, reorders, duplicates and partitions messages, seeded.
//
// Fault model: each message is dropped with `dropProbability`, otherwise delivered after a random
// delay of 1...`delayTicksMax` ticks (so messages overtake each other), and duplicated with
// `duplicateProbability` (the copy gets its own delay). A partition cuts links in both directions;
// messages on a cut link are lost. Raft tolerates all of these: it needs only that some messages
// eventually get through once faults stop, which `heal()` restores.
import Consensus
import Workload

struct SimNetwork<Payload: Sendable> {
    var dropProbability = 0.05
    var duplicateProbability = 0.02
    var delayTicksMax = 3
    /// Links that are cut: `cut.contains([a, b])` means a cannot reach b.
    var cut: Set<[Int]> = []
    /// Messages in flight, bounded so a runaway replica cannot exhaust memory.
    static var inFlightMax: Int { 100_000 }

    private(set) var inFlight: [(deliverAtTick: Int, sequence: Int, message: Message<Payload>)] = []
    private var sequence = 0

    mutating func send(_ message: Message<Payload>, now: Int, random: inout SplitMix64) {
        precondition(inFlight.count < SimNetwork.inFlightMax, "network overflow")
        if cut.contains([message.from, message.to]) { return }
        if random.unit() < dropProbability { return }
        let copies = random.unit() < duplicateProbability ? 2 : 1
        for _ in 0..<copies {
            sequence += 1
            inFlight.append((now + 1 + random.below(delayTicksMax), sequence, message))
        }
    }

    /// Messages due at `now`, in a seeded but arbitrary order.
    mutating func deliverable(now: Int, random: inout SplitMix64) -> [Message<Payload>] {
        var due: [Message<Payload>] = []
        var rest: [(Int, Int, Message<Payload>)] = []
        for item in inFlight {
            if item.deliverAtTick <= now {
                if !cut.contains([item.message.from, item.message.to]) { due.append(item.message) }
            } else {
                rest.append(item)
            }
        }
        inFlight = rest.map { (deliverAtTick: $0.0, sequence: $0.1, message: $0.2) }
        // Shuffle deterministically (Fisher-Yates with the simulator's generator).
        if due.count > 1 {
            for index in stride(from: due.count - 1, to: 0, by: -1) { due.swapAt(index, random.below(index + 1)) }
        }
        return due
    }

    mutating func partition(_ group: Set<Int>, from replicaCount: Int) {
        for a in 0..<replicaCount {
            for b in 0..<replicaCount where a != b && group.contains(a) != group.contains(b) {
                cut.insert([a, b])
            }
        }
    }

    mutating func heal() { cut.removeAll() }

    mutating func calm() {
        dropProbability = 0
        duplicateProbability = 0
    }
}
