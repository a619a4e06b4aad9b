// The append-only log of batches in preallocated, mmap'd segment files, with crash recovery.
import LedgerCore
#if canImport(Glibc)
import Glibc
#endif

/// A damaged batch before the tail: the log refuses to open rather than skip it.
public struct LogCorruption: Error, CustomStringConvertible, Equatable {
    public let segmentPath: String
    public let offset: Int
    /// The op expected at `offset`.
    public let op: UInt64
    public let reason: String

    public var description: String {
        "log corruption in \(segmentPath) at offset \(offset) (op \(op)): \(reason)"
    }
}

/// The log is open for writing in another process (or another writer in this one).
public struct LogInUse: Error, CustomStringConvertible, Equatable {
    public let path: String
    /// Who holds it, as the holder wrote in `writer.lock` ("process 1234: wallet serve ..."), if readable.
    public var holder: String? = nil
    public var description: String {
        let who = holder.map { "by \($0)" } ?? "by another process (a running replica, serve, ingest or compact)"
        return "the log \(path) is open for writing \(who): stop it first, or use a read-only command (verify, balance, history, status)"
    }
}

/// A torn tail found and cut by recovery: the last batches of an interrupted write.
public struct TailTruncation: Equatable, Sendable, CustomStringConvertible {
    public let segmentPath: String
    public let offset: Int
    /// The first op that was cut (it was never acknowledged, or it is reported here if it was).
    public let op: UInt64
    public let reason: String

    public var description: String {
        "cut torn tail in \(segmentPath) at offset \(offset) (op \(op) onwards): \(reason)"
    }
}

/// Where a batch lives: which segment (its position counting archived segments first, which is
/// its index minus one) and at which byte offset of its (decompressed) bytes.
struct BatchLocation {
    var segment: UInt32
    var offset: UInt32
}

/// The log: batches with ops 1, 2, 3, ... in segment files `log/segment-NNNNNNNNNN.wlog`.
///
/// Invariants: ops are contiguous; each batch's `previousHeaderHash` is the hash of the batch
/// before (the genesis hash before op 1); a batch never spans two segments; a segment is synced
/// completely before the next one is created; at most `unsyncedBytesMax` bytes are appended past
/// the last confirmed-durable offset, which bounds where a torn write can be. Not thread-safe:
/// one writer appends; `PendingSync` values may be performed on another thread.
public final class SegmentLog {
    /// Bytes a writer may append past the last durable offset. Recovery treats damage inside this
    /// window after the last valid batch as a torn write; damage before it is corruption.
    public static let unsyncedBytesMax = 32 << 20

    public let directoryPath: String
    public let clusterId: UInt128
    public let segmentSizeBytes: Int
    public let isReadOnly: Bool

    /// Where the log starts when its beginning was pruned or replaced by a snapshot (nil: op 1).
    public internal(set) var base: LogBase?
    /// Archived segments: always a prefix of the log (only sealed segments are archived, in order).
    var archives: [ArchivedSegment] = []
    lazy var archiveBuffers = ArchiveBufferPool(bufferSizeBytes: segmentSizeBytes)
    /// Live segments, after the archived ones; the last one takes appends.
    var segments: [MappedFile] = []
    var locations: [BatchLocation] = []
    public internal(set) var lastOp: UInt64 = 0
    public internal(set) var lastHeaderHash: Hash256
    /// Timestamp of the last record in the log (or of the last batch if it had none).
    public internal(set) var lastRecordTimestampNs: UInt64 = 0
    /// Every op up to this one is known durable: confirmed by a sync, a segment rotation, or
    /// recovery (which syncs what it found). Writers stamp it into the batches they form.
    public internal(set) var durableOp: UInt64 = 0
    /// Set when recovery cut a torn tail.
    public internal(set) var tailTruncation: TailTruncation?
    /// Whether `append` requires each batch's `durableOp` to be at most the log's own `durableOp`:
    /// true for a single node, whose writer stamps it. A Raft follower stores batches its leader
    /// formed, stamped with the leader's commit index, which this log cannot check.
    public var checksDurableOpClaims = true

    var writeOffset = 0
    var syncTakenOffset = 0
    var durableOffset = 0
    /// The open `writer.lock` file holding an exclusive lock while this log is open for writing.
    private var writerLockFd: Int32 = -1

    public init(directoryPath: String, clusterId: UInt128, segmentSizeBytes: Int, readOnly: Bool = false) throws {
        precondition(segmentSizeBytes >= Limits.segmentSizeBytesMin && segmentSizeBytes <= Limits.segmentSizeBytesMax)
        precondition(segmentSizeBytes % 4096 == 0)
        self.directoryPath = directoryPath
        self.clusterId = clusterId
        self.segmentSizeBytes = segmentSizeBytes
        isReadOnly = readOnly
        lastHeaderHash = Hash256.genesis(clusterId: clusterId)
        if !readOnly {
            try Syscall.mkdir(directoryPath)
            writerLockFd = try SegmentLog.lockForWriting(directoryPath)
        }
        do {
            try recover()
        } catch {
            if writerLockFd >= 0 { Syscall.close(writerLockFd) }
            throw error
        }
    }

    deinit { releaseWriterLock() }

    /// Done writing: releases the writer lock so another process (or a new `SegmentLog`) may
    /// write. Reading stays possible; appending does not.
    public func releaseWriterLock() {
        if writerLockFd >= 0 { Syscall.close(writerLockFd) }
        writerLockFd = -1
    }

    /// One writer per log: a second process (a `wallet compact` or `ingest` next to a running
    /// replica, say) would append, cut tails or archive under the first one's feet. The lock is
    /// an `flock` on `writer.lock`, released by the kernel when the process dies, so a crash never
    /// leaves a stale lock behind. Readers (`verify`, `balance`, `history`) take no lock.
    static func lockForWriting(_ directoryPath: String) throws -> Int32 {
        let path = directoryPath + "/writer.lock"
        let fd = try Syscall.open(path, O_RDWR | O_CREAT)
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let error = errno
            let holder = error == EWOULDBLOCK ? readHolder(fd) : nil
            Syscall.close(fd)
            if error == EWOULDBLOCK {
                throw LogInUse(path: directoryPath, holder: holder)
            }
            throw IOError(operation: "flock", path: path, errno: error)
        }
        // Say who holds it, for the message another writer gets (best effort: the lock is the flock).
        let line = "process \(getpid()): " + CommandLine.arguments.joined(separator: " ")
        let bytes = Array(line.utf8.prefix(SegmentLog.lockHolderBytesMax))
        if ftruncate(fd, 0) == 0 { _ = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) } }
        return fd
    }

    /// `lock_holder_bytes_max`: how much of `writer.lock` names its holder (read back the same).
    static let lockHolderBytesMax = 512

    /// The holder line of a `writer.lock`, printable ASCII only (a file's bytes are input), or nil.
    private static func readHolder(_ fd: Int32) -> String? {
        var buffer = [UInt8](repeating: 0, count: lockHolderBytesMax)
        let count = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { return nil }
        let text = String(decoding: buffer[0..<count].map { $0 >= 0x20 && $0 < 0x7f ? $0 : 0x3f }, as: UTF8.self)
        return text.hasPrefix("process ") ? text : nil
    }

    /// The last op before the log's first batch: 0, or the log base's op.
    public var baseOp: UInt64 { base?.baseOp ?? 0 }
    /// The first op the log holds (when it holds any): one past `baseOp`.
    public var firstOp: UInt64 { baseOp + 1 }
    /// The number of the first segment file: 1, or the log base's.
    var firstSegmentIndex: Int { Int(base?.firstSegmentIndex ?? 1) }
    /// The Raft term of the batch at `op`, for any op from `baseOp` (the base record keeps its
    /// term) through `lastOp`; 0 at op 0.
    public func term(op: UInt64) -> UInt64 {
        if op == 0 { return 0 }
        if op == baseOp, let base { return base.baseTerm }
        return header(op: op).term
    }
    /// The hash of the batch header at `op`, for any op from `baseOp` through `lastOp`: what the
    /// next batch chains to, and what a snapshot at `op` records. At op 0 the genesis hash.
    public func headerHash(op: UInt64) -> Hash256 {
        if op == baseOp { return base?.baseHeaderHash ?? Hash256.genesis(clusterId: clusterId) }
        return header(op: op).hash()
    }
    /// Where `op` sits in `locations`.
    @inline(__always) func locationIndex(_ op: UInt64) -> Int { Int(op - firstOp) }
    public var batchCount: Int { locations.count }
    /// Segments in the log, archived ones included.
    public var segmentCount: Int { archives.count + segments.count }
    /// Paths of the live (not archived) segments.
    public var segmentPaths: [String] { segments.map(\.path) }
    public var archivePaths: [String] { archives.map(\.path) }
    /// The last op held by an archived segment (0: none).
    public var archivedThroughOp: UInt64 { archives.last?.header.lastOp ?? 0 }

    /// The index in `segment-N.wlog` or `archive-N.wlza` (10 digits), or nil for any other name.
    static func fileIndex(ofName name: String) -> Int? {
        let digits: Substring
        if name.hasPrefix("segment-") && name.hasSuffix(".wlog") {
            digits = name.dropFirst("segment-".count).dropLast(".wlog".count)
        } else if name.hasPrefix("archive-") && name.hasSuffix(".wlza") {
            digits = name.dropFirst("archive-".count).dropLast(".wlza".count)
        } else {
            return nil
        }
        guard digits.count == 10, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let index = Int(digits), index >= 1 else { return nil }
        return index
    }

    static func segmentFileName(_ index: Int) -> String {
        let digits = String(index)
        return "segment-" + String(repeating: "0", count: max(0, 10 - digits.count)) + digits + ".wlog"
    }

    // MARK: Reading

    public func batch(op: UInt64) -> BatchView {
        precondition(op >= firstOp && op <= lastOp, "op \(op) is not in the log (it holds \(firstOp)...\(lastOp))")
        let location = locations[locationIndex(op)]
        let position = Int(location.segment)
        if position < archives.count {
            let archive = archives[position]
            // Readers that can handle a damaged archive call `loadArchives` first; here a damaged
            // archive stops the process rather than serve a batch that no checksum vouches for.
            let data: UnsafeMutableRawBufferPointer
            do { data = try archive.load() } catch { fatalError("\(error)") }
            return BatchView(validatedBytes: UnsafeRawBufferPointer(rebasing: data[Int(location.offset)...]))
        }
        let segment = segments[position - archives.count]
        let bytes = UnsafeRawBufferPointer(rebasing: segment.bytes[Int(location.offset)...])
        return BatchView(validatedBytes: bytes)
    }

    /// Calls `body` with each batch from `startOp` through `endOp` (at most the log's last op), in op order.
    public func forEachBatch(from startOp: UInt64 = 1, through endOp: UInt64 = .max, _ body: (BatchView) throws -> Void) rethrows {
        let last = min(endOp, lastOp)
        guard max(startOp, firstOp) <= last else { return }
        for op in max(startOp, firstOp)...last { try body(batch(op: op)) }
    }

    // MARK: Writing

    /// Copies a sealed batch into the log (not yet durable: see `takePendingSync`/`sync`).
    /// Returns a view of the batch in its segment, valid while the log is open.
    @discardableResult
    public func append(_ batch: BatchView) throws -> BatchView {
        precondition(!isReadOnly)
        precondition(writerLockFd >= 0, "the writer lock was released: this log no longer writes")
        let header = batch.header
        precondition(header.op == lastOp + 1, "ops are contiguous: expected \(lastOp + 1), got \(header.op)")
        precondition(header.previousHeaderHash == lastHeaderHash, "the batch does not chain to the log's last header")
        precondition(header.clusterId == clusterId, "the batch belongs to another cluster")
        precondition(header.timestampNs > lastRecordTimestampNs, "timestamps must increase")
        precondition(!checksDurableOpClaims || header.durableOp <= durableOp, "a batch may only claim ops the log knows durable")
        let sizeBytes = header.batchSizeBytes
        precondition(writeOffset - durableOffset + sizeBytes <= SegmentLog.unsyncedBytesMax || segments.isEmpty,
                     "more than unsyncedBytesMax appended past the durable offset: sync first")
        if segments.isEmpty || writeOffset + sizeBytes > segmentSizeBytes {
            try rotate(firstOp: header.op)
        }
        let segment = segments[segments.count - 1]
        let destination = segment.base + writeOffset
        // pwrite, not a copy into the mapping: a store to a page not yet in the page cache
        // faults, and the fault reads (and, for preallocated space, zero-fills) a whole readahead
        // window first, which cost a fifth of all CPU under replicated load. The mapping sees the
        // written bytes at once (one page cache), and msync makes them durable the same way.
        try Syscall.pwriteAll(segment.fd, segment.path, UnsafeRawBufferPointer(start: batch.bytes.baseAddress!, count: sizeBytes), offset: writeOffset)
        locations.append(BatchLocation(segment: UInt32(archives.count + segments.count - 1), offset: UInt32(writeOffset)))
        writeOffset += sizeBytes
        lastOp = header.op
        lastHeaderHash = header.hash()
        lastRecordTimestampNs = header.lastRecordTimestampNs
        return BatchView(validatedBytes: UnsafeRawBufferPointer(start: destination, count: sizeBytes))
    }

    /// Bytes appended but not yet confirmed durable.
    public var unsyncedBytes: Int { writeOffset - durableOffset }

    /// The appended range not yet handed to a syncer, or nil. Perform it (on any thread), then call
    /// `confirmDurable(_:)` on the writer's thread before acknowledging what it covers.
    public func takePendingSync() -> PendingSync? {
        guard let segment = segments.last, writeOffset > syncTakenOffset else { return nil }
        let pending = PendingSync(file: segment, offset: syncTakenOffset, endOffset: writeOffset, lastOp: lastOp)
        syncTakenOffset = writeOffset
        return pending
    }

    public func confirmDurable(_ sync: PendingSync) {
        if sync.file === segments.last { durableOffset = max(durableOffset, sync.endOffset) }
        durableOp = max(durableOp, sync.lastOp)
    }

    /// Makes everything appended so far durable, on this thread.
    public func sync() throws {
        if let pending = takePendingSync() {
            try pending.perform()
            confirmDurable(pending)
        }
    }

    /// Drops every batch after `op` (Raft: a follower's conflicting, never-committed suffix).
    ///
    /// The dropped bytes are zeroed and synced, and segments wholly past `op` are deleted, before
    /// this returns: recovery must never find a dropped batch's header again, or it would take the
    /// dropped suffix for evidence of corruption (or, worse, for log).
    public func truncate(after op: UInt64) throws {
        precondition(!isReadOnly)
        precondition(op <= lastOp, "cannot truncate after op \(op): the log ends at \(lastOp)")
        guard op < lastOp else { return }
        precondition(op >= archivedThroughOp && op >= baseOp, "archived batches are committed: never truncated")
        let firstDropped = locations[locationIndex(op + 1)]
        // Later segments hold nothing to keep: delete them, newest first.
        while archives.count + segments.count - 1 > Int(firstDropped.segment) {
            let file = segments.removeLast()
            try Syscall.unlink(file.path)
        }
        try Syscall.fsyncDirectory(directoryPath)
        let file = segments[segments.count - 1]
        let dataEnd: Int
        if let lastInSegment = locations.last(where: { $0.segment == firstDropped.segment }) {
            let header = file.bytes.load(fromByteOffset: Int(lastInSegment.offset), as: BatchHeader.self)
            dataEnd = min(Int(lastInSegment.offset) + header.batchSizeBytes, file.sizeBytes)
        } else {
            dataEnd = Int(firstDropped.offset)
        }
        let start = Int(firstDropped.offset)
        memset(file.base + start, 0, dataEnd - start)
        try file.sync(offset: start, count: dataEnd - start)
        locations.removeLast(Int(lastOp - op))
        lastOp = op
        writeOffset = start
        syncTakenOffset = min(syncTakenOffset, start)
        durableOffset = min(durableOffset, start)
        durableOp = min(durableOp, op)
        if op == baseOp {
            lastHeaderHash = base?.baseHeaderHash ?? Hash256.genesis(clusterId: clusterId)
            lastRecordTimestampNs = base?.baseRecordTimestampNs ?? 0
        } else {
            let header = batch(op: op).header
            lastHeaderHash = header.hash()
            lastRecordTimestampNs = header.lastRecordTimestampNs
        }
    }

    /// Seals the current segment (synced whole) and creates the next, durably, before any batch goes in.
    private func rotate(firstOp: UInt64) throws {
        if let current = segments.last {
            // The whole data range, so pages still under another thread's msync are waited for too.
            try current.sync(offset: 0, count: writeOffset)
            syncTakenOffset = writeOffset
            durableOffset = writeOffset
            durableOp = lastOp
        }
        let index = firstSegmentIndex + archives.count + segments.count
        let path = directoryPath + "/" + SegmentLog.segmentFileName(index)
        let file = try MappedFile(creating: path, sizeBytes: segmentSizeBytes)
        let header = SegmentHeader(clusterId: clusterId, segmentIndex: UInt64(index), firstOp: firstOp, segmentSizeBytes: segmentSizeBytes)
        file.base.storeBytes(of: header, as: SegmentHeader.self)
        do {
            try file.syncAll()
            try Syscall.fsyncDirectory(directoryPath)
        } catch {
            // Not part of the log yet: removed, so a retry creates it afresh (O_EXCL would refuse it).
            try? Syscall.unlink(path)
            throw error
        }
        segments.append(file)
        writeOffset = Limits.segmentHeaderSizeBytes
        syncTakenOffset = writeOffset
        durableOffset = writeOffset
    }
}

/// A range of a segment to make durable; safe to perform on another thread while appends go on.
public struct PendingSync: @unchecked Sendable {
    let file: MappedFile
    let offset: Int
    let endOffset: Int
    /// The last op the range holds: acknowledged once this is durable.
    public let lastOp: UInt64

    public var byteCount: Int { endOffset - offset }

    public func perform() throws {
        try file.sync(offset: offset, count: endOffset - offset)
    }
}
