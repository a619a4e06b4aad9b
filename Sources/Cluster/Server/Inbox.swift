// The replica loop's inbox: everything the network threads hand to the single Raft thread.
import Consensus
import Foundation
import LedgerCore
import NIOCore
import Storage

/// Where a client's reply goes: the connection its request came on.
public struct ClientConnection: @unchecked Sendable {
    let channel: Channel

    func send(_ frame: ByteBuffer) {
        channel.writeAndFlush(frame, promise: nil)
    }
}

enum InboxItem {
    case raft(Message<LogEntryPayload>)
    case submit(ClientConnection, requestId: UInt64, records: OwnedRecords)
    case lookupAccounts(ClientConnection, requestId: UInt64, ids: [UInt128])
    case status(ClientConnection, requestId: UInt64)
    /// A peer's state digest at one of its snapshot ops.
    case peerSnapshotDigest(SnapshotDigestMessage)
    /// This replica's compactor wrote a snapshot (or the replica started from one).
    case ownSnapshotDigest(op: UInt64, digest: Hash256)
    /// The background archiver wrote and checked these archives (in order), or stopped at an error.
    case archived([ArchiveJob], Error?)
    /// The leader's background fsync finished (or failed).
    case synced(generation: UInt64, PendingSync, Error?)
    /// A piece of the leader's snapshot file (follower).
    case snapshotChunk(SnapshotChunkMessage)
    /// Work for the replica thread, with the state as it is between two items (a local read).
    case run(@Sendable (Ledger, UInt64) -> Void)
    /// A received snapshot file was read back and checked in the background (or failed): the
    /// leader's install_snapshot message may now go to the core (follower).
    case snapshotLoaded(Message<LogEntryPayload>, ReceivedSnapshot?, Error?)
    /// A snapshot transfer to this peer ended (leader); a failure is retried when the core asks again.
    case snapshotSent(peer: Int, op: UInt64, sizeBytes: UInt64, Error?)
}

/// A multi-producer, single-consumer queue whose consumer waits with a deadline (the next tick).
final class Inbox: @unchecked Sendable {
    private let condition = NSCondition()
    private var items: [InboxItem] = []
    private var closed = false

    func push(_ item: InboxItem) {
        condition.lock()
        items.append(item)
        condition.signal()
        condition.unlock()
    }

    func close() {
        condition.lock()
        closed = true
        condition.signal()
        condition.unlock()
    }

    /// Everything queued, waiting until `deadline` if nothing is; nil once closed.
    func drain(until deadline: Date) -> [InboxItem]? {
        condition.lock()
        defer { condition.unlock() }
        while items.isEmpty && !closed {
            if !condition.wait(until: deadline) { break }
        }
        if closed { return nil }
        let drained = items
        items.removeAll(keepingCapacity: true)
        return drained
    }
}
