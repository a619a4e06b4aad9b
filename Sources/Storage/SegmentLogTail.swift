// After a failed write: the log brought back to its last durable batch, and that batch read back.
import LedgerCore

/// The log's tail did not read back as the log's own last batch.
public struct LogTailError: Error, CustomStringConvertible {
    public let path: String
    public let op: UInt64
    public let reason: String
    public var description: String { "\(path): the last batch (op \(op)) does not read back: \(reason)" }
}

extension SegmentLog {
    /// After an append or a sync failed (ENOSPC, EIO): drops every batch not known durable, so
    /// the log ends at its last durable op again, then reads that batch back (`checkTail`).
    ///
    /// A failed fsync leaves the fate of its pages unknown (Linux may have dropped them and
    /// marked them clean): a batch it covered is never trusted, it is dropped (zeroed, synced,
    /// as `truncate` does) and written again by whoever retries it. Nothing dropped here was
    /// acknowledged: a writer acknowledges only what a successful sync covered.
    public func recoverAfterFailedWrite() throws {
        precondition(!isReadOnly)
        if lastOp > durableOp { try truncate(after: durableOp) }
        // A sync that failed took its range: hand it out again.
        syncTakenOffset = min(syncTakenOffset, writeOffset)
        if durableOp == lastOp { durableOffset = min(durableOffset, writeOffset) }
        try checkTail()
    }

    /// Reads the last batch back from its segment file (pread, past any view of ours) and checks
    /// it whole: both checksums, its op, and that its hash is the one the next batch chains to.
    public func checkTail() throws {
        guard lastOp > baseOp else { return }
        let location = locations[locationIndex(lastOp)]
        let position = Int(location.segment) - archives.count
        guard position >= 0 else { return }  // archived: checked when its archive was written and read back
        let file = segments[position]
        var bytes = [UInt8](repeating: 0, count: Limits.batchHeaderSizeBytes)
        let headerRead = try bytes.withUnsafeMutableBytes { try Syscall.preadAll(file.fd, file.path, $0, offset: Int(location.offset)) }
        func fail(_ reason: String) -> LogTailError { LogTailError(path: file.path, op: lastOp, reason: reason) }
        guard headerRead == Limits.batchHeaderSizeBytes else { throw fail("its header is cut short") }
        let sizeBytes: Int
        switch bytes.withUnsafeBytes({ BatchHeader.validateHeader($0) }) {
        case .failure(let error): throw fail("\(error)")
        case .success(let header): sizeBytes = header.batchSizeBytes
        }
        bytes = [UInt8](repeating: 0, count: sizeBytes)
        let read = try bytes.withUnsafeMutableBytes { try Syscall.preadAll(file.fd, file.path, $0, offset: Int(location.offset)) }
        guard read == sizeBytes else { throw fail("its body is cut short") }
        switch bytes.withUnsafeBytes({ BatchHeader.validateBatch($0) }) {
        case .failure(let error): throw fail("\(error)")
        case .success(let header):
            guard header.op == lastOp else { throw fail("it holds op \(header.op)") }
            guard header.hash() == lastHeaderHash else { throw fail("its hash is not the one the log chains to") }
        }
    }
}
