// A replica's way past damage in its own log: set the damaged suffix aside and let the leader repair it.
import CSupport
import Foundation
import LedgerCore
#if canImport(Glibc)
import Glibc
#endif

/// What `SegmentLog.setAsideDamage` did.
public struct SetAsideDamage: Sendable, CustomStringConvertible {
    /// The first op no longer in the log (the damaged one); 0 when the damage (an archive's own
    /// header) does not say.
    public let firstDiscardedOp: UInt64
    /// The highest op, and its term, that any readable batch header past the damage holds: how far
    /// the log reached before (the Raft voting floor). Nil: no header was readable past the damage.
    /// Term 0: only an archive header was readable, which records no term.
    public let reached: (op: UInt64, term: UInt64)?
    /// Where the damaged bytes were moved (kept for inspection, never read again).
    public let quarantinePath: String
    public let files: [String]

    public var description: String {
        (firstDiscardedOp > 0 ? "set aside ops \(firstDiscardedOp)..." : "set aside \(files.first ?? "") and the files after it")
            + " (\(files.count) files, to \(quarantinePath))"
            + (reached.map { "; the log had reached op \($0.op) in term \($0.term)" } ?? "")
    }
}

extension SegmentLog {
    /// For a Raft replica whose log failed to open with `damage` (a `LogCorruption` or an
    /// `ArchiveError` naming a file, offset and op): moves the damaged file and every later one
    /// into `log/damaged-<ns>/` (a damaged live segment is copied there and its bytes from the
    /// damaged batch on are zeroed in place), so the log opens again, ending before the damage.
    ///
    /// A replica may have acknowledged the discarded batches. The caller must first raise its
    /// voting floor to `reached` (found by scanning the set-aside bytes for valid batch headers;
    /// where none can be read, the caller uses its current term, which is at least any entry's),
    /// durably, so it never helps elect a leader lacking them; then a leader repairs the suffix
    /// like any follower's missing entries. A single node has nobody to repair from: it must not
    /// call this.
    ///
    /// `beforeMoving` is called with the first discarded op and `reached` before anything is
    /// moved: that is where the floor must be made durable.
    public static func setAsideDamage(directoryPath: String, clusterId: UInt128, damage: Error, nowNs: UInt64,
                                      beforeMoving: (_ firstDiscardedOp: UInt64, _ reached: (op: UInt64, term: UInt64)?) throws -> Void) throws -> SetAsideDamage {
        let lockFd = try lockForWriting(directoryPath)
        defer { Syscall.close(lockFd) }
        let path: String
        let offset: Int
        let op: UInt64
        switch damage {
        case let corruption as LogCorruption:
            (path, offset, op) = (corruption.segmentPath, corruption.offset, corruption.op)
        case let archive as ArchiveError:
            (path, offset, op) = (archive.path, 0, archive.op ?? 0)
        default:
            throw damage
        }
        let name = path.split(separator: "/").last.map(String.init) ?? path
        guard let damagedIndex = fileIndex(ofName: name) else { throw damage }
        let names = try Syscall.listDirectory(directoryPath).filter { fileIndex(ofName: $0).map { $0 >= damagedIndex } ?? false }
            .sorted { fileIndex(ofName: $0)! < fileIndex(ofName: $1)! || ($0.hasPrefix("archive-") && $1.hasPrefix("segment-")) }
        // How far the log reached: the highest readable batch header (or archive header) past the damage.
        var reached: (op: UInt64, term: UInt64)?
        func saw(_ op: UInt64, _ term: UInt64?) {
            guard reached.map({ op > $0.op }) ?? true else { return }
            reached = (op, term ?? 0)
        }
        for file in names {
            let filePath = directoryPath + "/" + file
            if file.hasPrefix("segment-") {
                guard let mapped = try? MappedFile(path: filePath, writable: false) else { continue }
                let from = file == name ? offset + Limits.batchHeaderSizeBytes : Limits.segmentHeaderSizeBytes
                for header in readableBatchHeaders(mapped, from: from, clusterId: clusterId) { saw(header.op, header.term) }
            } else if let header = try? ArchiveFile.readHeaderOnly(path: filePath, clusterId: clusterId) {
                saw(header.lastOp, nil)
            }
        }
        try beforeMoving(op, reached.map { ($0.op, $0.term) })
        let quarantine = directoryPath + "/damaged-" + String(nowNs)
        try Syscall.mkdir(quarantine)
        var moved: [String] = []
        for file in names {
            let source = directoryPath + "/" + file
            if file == name && file.hasPrefix("segment-") && offset >= Limits.segmentHeaderSizeBytes {
                // Keep the good batches before the damage in place; a copy of the whole file goes aside.
                try FileManager.default.copyItem(atPath: source, toPath: quarantine + "/" + file)
                let mapped = try MappedFile(path: source, writable: true)
                memset(mapped.base + offset, 0, mapped.sizeBytes - offset)
                try mapped.syncAll()
            } else {
                try Syscall.rename(source, quarantine + "/" + file)
            }
            moved.append(file)
        }
        try Syscall.fsyncDirectory(quarantine)
        try Syscall.fsyncDirectory(directoryPath)
        return SetAsideDamage(firstDiscardedOp: op, reached: reached.map { ($0.op, $0.term) }, quarantinePath: quarantine, files: moved)
    }

    /// Every batch header at a 128-byte boundary from `from` on that passes its own checks and
    /// belongs to this cluster (bodies are not checked: only the op and term are wanted).
    static func readableBatchHeaders(_ file: MappedFile, from: Int, clusterId: UInt128) -> [BatchHeader] {
        let stride = Limits.batchHeaderSizeBytes
        var offset = (from + stride - 1) / stride * stride
        var found: [BatchHeader] = []
        while offset + stride <= file.sizeBytes {
            let position = wallet_find_magic(file.base, file.sizeBytes, stride, 4, BatchHeader.magicValue, offset)
            if position < 0 { break }
            let candidate = UnsafeRawBufferPointer(rebasing: file.bytes[Int(position)..<(Int(position) + stride)])
            if case .success(let header) = BatchHeader.validateHeader(candidate), header.clusterId == clusterId { found.append(header) }
            offset = Int(position) + stride
        }
        return found
    }
}
