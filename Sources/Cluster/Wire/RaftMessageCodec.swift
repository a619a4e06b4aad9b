// Raft messages on the wire. Entries travel as the batches themselves: the header carries the term.
import Consensus
import LedgerCore
import NIOCore

/// Encodes and decodes `Message<LogEntryPayload>` as the body of a `raft` frame.
///
/// Body layout (little-endian): kind u8, from u8, to u8, reserved u8 (zero), reserved u32, term
/// u64, then by kind:
/// - pre_vote (1), request_vote (3): last_index u64, last_term u64
/// - pre_vote_response (2), request_vote_response (4): granted u8
/// - append_entries (5): previous_index u64, previous_term u64, commit_index u64, read_context
///   u64, entry_count u32, then each entry's whole batch (128-byte header + records)
/// - append_entries_response (6): success u8, match_index u64, hint_index u64, read_context u64
/// - install_snapshot (7): index u64, snapshot_term u64 (the file itself went ahead in
///   `snapshot_chunk` frames on the same connection)
public enum RaftMessageCodec {
    enum Kind: UInt8 {
        case preVote = 1, preVoteResponse, requestVote, requestVoteResponse, appendEntries, appendEntriesResponse, installSnapshot
    }

    /// `batchBytes(index)` gives the stored batch at a log index (the leader's own segment log).
    public static func encode(_ message: Message<LogEntryPayload>, clusterId: UInt128,
                              batchBytes: (UInt64) -> UnsafeRawBufferPointer) -> ByteBuffer {
        var capacity = 64
        if case .appendEntries(let previousIndex, _, let entries, _, _) = message.body {
            for offset in 0..<entries.count { capacity += batchBytes(previousIndex + 1 + UInt64(offset)).count }
        }
        var frame = FrameBuilder(command: .raft, clusterId: clusterId, requestId: 0, bodyCapacityBytes: capacity)
        func prefix(_ kind: Kind) {
            frame.write(kind.rawValue)
            frame.write(UInt8(message.from))
            frame.write(UInt8(message.to))
            frame.write(UInt8(0))
            frame.write(UInt32(0))
            frame.write(message.term)
        }
        switch message.body {
        case .preVote(let lastIndex, let lastTerm):
            prefix(.preVote)
            frame.write(lastIndex)
            frame.write(lastTerm)
        case .preVoteResponse(let granted):
            prefix(.preVoteResponse)
            frame.write(UInt8(granted ? 1 : 0))
        case .requestVote(let lastIndex, let lastTerm):
            prefix(.requestVote)
            frame.write(lastIndex)
            frame.write(lastTerm)
        case .requestVoteResponse(let granted):
            prefix(.requestVoteResponse)
            frame.write(UInt8(granted ? 1 : 0))
        case .appendEntries(let previousIndex, let previousTerm, let entries, let commitIndex, let readContext):
            prefix(.appendEntries)
            frame.write(previousIndex)
            frame.write(previousTerm)
            frame.write(commitIndex)
            frame.write(readContext)
            frame.write(UInt32(entries.count))
            for offset in 0..<entries.count {
                let bytes = batchBytes(previousIndex + 1 + UInt64(offset))
                precondition(bytes.load(as: BatchHeader.self).term == entries[offset].term, "stored batch and entry disagree on the term")
                frame.write(bytes: bytes)
            }
        case .appendEntriesResponse(let success, let matchIndex, let hintIndex, let readContext):
            prefix(.appendEntriesResponse)
            frame.write(UInt8(success ? 1 : 0))
            frame.write(matchIndex)
            frame.write(hintIndex)
            frame.write(readContext)
        case .installSnapshot(let index, let snapshotTerm):
            prefix(.installSnapshot)
            frame.write(index)
            frame.write(snapshotTerm)
        }
        return frame.seal()
    }

    /// Decodes a message for replica `localId` of a cluster of `replicaCount`. Every received
    /// batch is copied and validated; its op must be its log index, its cluster this one.
    public static func decode(_ body: UnsafeRawBufferPointer, localId: Int, replicaCount: Int, clusterId: UInt128) throws -> Message<LogEntryPayload> {
        var reader = WireReader(body)
        guard let kind = Kind(rawValue: try reader.read(UInt8.self)) else { throw WireError.badBody("unknown Raft message kind") }
        let from = Int(try reader.read(UInt8.self))
        let to = Int(try reader.read(UInt8.self))
        guard try reader.read(UInt8.self) == 0, try reader.read(UInt32.self) == 0 else { throw WireError.badBody("reserved bytes are not zero") }
        guard to == localId else { throw WireError.badBody("message for replica \(to) arrived at replica \(localId)") }
        guard from < replicaCount, from != localId else { throw WireError.badBody("message from replica \(from), not a peer") }
        let term = try reader.read(UInt64.self)
        let body: MessageBody<LogEntryPayload>
        switch kind {
        case .preVote:
            body = .preVote(lastIndex: try reader.read(UInt64.self), lastTerm: try reader.read(UInt64.self))
        case .preVoteResponse:
            body = .preVoteResponse(granted: try reader.read(UInt8.self) != 0)
        case .requestVote:
            body = .requestVote(lastIndex: try reader.read(UInt64.self), lastTerm: try reader.read(UInt64.self))
        case .requestVoteResponse:
            body = .requestVoteResponse(granted: try reader.read(UInt8.self) != 0)
        case .appendEntries:
            let previousIndex = try reader.read(UInt64.self)
            let previousTerm = try reader.read(UInt64.self)
            let commitIndex = try reader.read(UInt64.self)
            let readContext = try reader.read(UInt64.self)
            let count = Int(try reader.read(UInt32.self))
            guard count <= WireLimits.frameBodySizeBytesMax / Limits.batchHeaderSizeBytes else { throw WireError.badBody("\(count) entries") }
            // Bounded before any arithmetic on it (the core checks every term and index again).
            guard previousIndex <= RaftBounds.indexMax else { throw WireError.badBody("previous index \(previousIndex) is past the bound") }
            var entries: [Entry<LogEntryPayload>] = []
            entries.reserveCapacity(count)
            for position in 0..<count {
                guard reader.remaining >= Limits.batchHeaderSizeBytes else { throw WireError.badBody("entry \(position) is cut short") }
                let headerBytes = try reader.readBytes(Limits.batchHeaderSizeBytes)
                let size = headerBytes.loadUnaligned(as: BatchHeader.self).batchSizeBytes
                guard size >= Limits.batchHeaderSizeBytes, size - Limits.batchHeaderSizeBytes <= reader.remaining else {
                    throw WireError.badBody("entry \(position) is cut short")
                }
                let bodyBytes = try reader.readBytes(size - Limits.batchHeaderSizeBytes)
                let whole = UnsafeRawBufferPointer(start: headerBytes.baseAddress, count: headerBytes.count + bodyBytes.count)
                let batch = try OwnedBatch(copying: whole)
                let header = batch.view.header
                guard header.clusterId == clusterId else { throw WireError.badBody("entry of cluster \(header.clusterId)") }
                guard header.op == previousIndex + 1 + UInt64(position) else {
                    throw WireError.badBody("entry \(position) has op \(header.op), expected \(previousIndex + 1 + UInt64(position))")
                }
                entries.append(Entry(term: header.term, payload: LogEntryPayload(.received(batch))))
            }
            body = .appendEntries(previousIndex: previousIndex, previousTerm: previousTerm, entries: entries,
                                  commitIndex: commitIndex, readContext: readContext)
        case .appendEntriesResponse:
            body = .appendEntriesResponse(success: try reader.read(UInt8.self) != 0, matchIndex: try reader.read(UInt64.self),
                                          hintIndex: try reader.read(UInt64.self), readContext: try reader.read(UInt64.self))
        case .installSnapshot:
            let index = try reader.read(UInt64.self)
            let snapshotTerm = try reader.read(UInt64.self)
            guard index >= 1, snapshotTerm >= 1 else { throw WireError.badBody("install_snapshot at index \(index), term \(snapshotTerm)") }
            body = .installSnapshot(index: index, snapshotTerm: snapshotTerm)
        }
        try reader.expectEnd()
        return Message(from: from, to: to, term: term, body: body)
    }
}
