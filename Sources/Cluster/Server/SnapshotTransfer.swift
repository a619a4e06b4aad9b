// Install snapshot in the runtime: the leader streams a snapshot file in chunks, the follower
// assembles, syncs and checks it off the replica thread before the Raft core hears of it.
import Consensus
import Foundation
import LedgerCore
import NIOCore
import Replica
import Storage
#if canImport(Glibc)
import Glibc
#endif

/// A snapshot file received from the leader, durable, read back whole and checked (chunk CRCs,
/// op, the digest of the state it holds): ready to install.
struct ReceivedSnapshot: @unchecked Sendable {
    let path: String
    /// How long the chunks took to arrive, and the read-back and checks after them.
    let receiveElapsedNs: UInt64
    let checkElapsedNs: UInt64
    let header: SnapshotHeader
    let ledger: Ledger
}

/// Follower side: writes the leader's chunks, in order, to `snapshots/incoming-<op>.wsnap.tmp`.
/// Anything out of order (a lost connection, a new transfer, another leader) starts over: the
/// leader's core asks again when it hears nothing.
final class SnapshotReceiver {
    let dataPath: String
    private var current: (from: Int, op: UInt64, fileSizeBytes: UInt64, receivedBytes: UInt64, fd: Int32, path: String, startNs: UInt64)?
    private var transfersStarted: UInt64 = 0

    init(dataPath: String) { self.dataPath = dataPath }

    deinit { abandon() }

    /// Writes one chunk; returns a line to log when a transfer starts.
    func receive(_ chunk: SnapshotChunkMessage) throws -> String? {
        var started: String?
        if chunk.offset == 0 {
            abandon()
            try FileManager.default.createDirectory(atPath: SnapshotFile.directoryPath(dataPath), withIntermediateDirectories: true)
            transfersStarted += 1
            let path = SnapshotFile.incomingPath(dataPath: dataPath, op: chunk.snapshotOp, transfer: transfersStarted)
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw IOError(operation: "open", path: path, errno: errno) }
            current = (chunk.from, chunk.snapshotOp, chunk.fileSizeBytes, 0, fd, path, monotonicNowNs())
            started = "receiving the snapshot at op \(chunk.snapshotOp) (\(chunk.fileSizeBytes) bytes) from replica \(chunk.from)"
        }
        guard let transfer = current, transfer.from == chunk.from, transfer.op == chunk.snapshotOp,
              transfer.fileSizeBytes == chunk.fileSizeBytes, transfer.receivedBytes == chunk.offset else {
            // A chunk of a transfer this replica is not assembling (it joined midway): ignored.
            return started
        }
        let written = chunk.bytes.withUnsafeBytes { pwrite(transfer.fd, $0.baseAddress, $0.count, off_t(chunk.offset)) }
        guard written == chunk.bytes.count else {
            let error = IOError(operation: "pwrite", path: transfer.path, errno: written < 0 ? errno : EIO)
            abandon()
            throw error
        }
        current?.receivedBytes += UInt64(written)
        return started
    }

    /// The whole file of the snapshot at `op` from `from`, if it arrived: its path (closed; no
    /// longer tracked here) and how long it took to arrive. Nil, and nothing changes, otherwise.
    func takeComplete(from: Int, op: UInt64) -> (path: String, elapsedNs: UInt64)? {
        guard let transfer = current, transfer.from == from, transfer.op == op, transfer.receivedBytes == transfer.fileSizeBytes else { return nil }
        close(transfer.fd)
        current = nil
        return (transfer.path, monotonicNowNs() - transfer.startNs)
    }

    /// Drops a partial transfer and its file.
    func abandon() {
        guard let transfer = current else { return }
        close(transfer.fd)
        unlink(transfer.path)
        current = nil
    }

    /// Reads a complete received file back on another thread (fsync, every check, the digest of
    /// the state), and hands the result to `done`. Decompressing gigabytes must not hold up the
    /// replica thread's heartbeats.
    static func load(path: String, op: UInt64, clusterId: UInt128, spareTransfers: Int, receiveElapsedNs: UInt64,
                     done: @escaping @Sendable (Result<ReceivedSnapshot, Error>) -> Void) {
        DispatchQueue.global().async {
            let startNs = monotonicNowNs()
            do {
                var stepsMs: [UInt64] = []
                func step() { stepsMs.append((monotonicNowNs() - startNs) / 1_000_000 - stepsMs.reduce(0, +)) }
                try SnapshotFile.syncReceived(path: path)
                step()
                let (header, ledger) = try SnapshotFile.read(path: path, clusterId: clusterId, hashSeed: LocalNode.hashSeed(clusterId: clusterId),
                                                             spareTransfers: spareTransfers)
                step()
                guard header.op == op else {
                    throw SnapshotError(path: path, offset: 32, reason: "holds op \(header.op), the leader announced op \(op)")
                }
                guard ledger.digest() == header.digest else {
                    throw SnapshotError(path: path, offset: 96, reason: "the state it holds does not have the digest its header records")
                }
                step()
                FileHandle.standardError.write(Data("snapshot at op \(op) read back: fsync \(stepsMs[0]) ms, read \(stepsMs[1]) ms, digest \(stepsMs[2]) ms\n".utf8))
                done(.success(ReceivedSnapshot(path: path, receiveElapsedNs: receiveElapsedNs, checkElapsedNs: monotonicNowNs() - startNs,
                                               header: header, ledger: ledger)))
            } catch {
                unlink(path)
                done(.failure(error))
            }
        }
    }
}

/// Leader side: streams snapshot files to followers, one transfer per follower at a time, on a
/// background queue. Each chunk waits for the previous one to reach the socket, so a transfer
/// holds at most one chunk in memory and heartbeats wait behind at most one chunk.
final class SnapshotSender {
    private let queue = DispatchQueue(label: "wallet-snapshot-send")
    /// Followers with a transfer under way (replica thread only).
    private var activePeers: Set<Int> = []
    /// The last whole transfer to each follower: which snapshot, its size, and when it ended.
    private var lastSent: [Int: (op: UInt64, sizeBytes: UInt64, endedNs: UInt64)] = [:]
    /// After a whole transfer the follower reads the file back (seconds for gigabytes) before it
    /// answers; the same snapshot is not sent to it again sooner than
    /// `snapshot_resend_interval_ms_min` plus 1 ms per `snapshot_check_bytes_per_ms` of the file.
    static let resendIntervalMsMin: UInt64 = 5_000
    static let checkBytesPerMs: UInt64 = 20_000

    /// Whether a transfer of the snapshot at `op` to `peer` should start now.
    func shouldSend(op: UInt64, to peer: Int, nowNs: UInt64) -> Bool {
        if activePeers.contains(peer) { return false }
        if let last = lastSent[peer], last.op == op {
            let waitMs = SnapshotSender.resendIntervalMsMin + last.sizeBytes / SnapshotSender.checkBytesPerMs
            let (waitNs, overflow) = waitMs.multipliedReportingOverflow(by: 1_000_000)
            if nowNs < last.endedNs || overflow || nowNs - last.endedNs < waitNs { return false }
        }
        return true
    }

    /// Starts sending the file at `path` (the snapshot at `message`'s index) to `message.to`,
    /// then the install_snapshot message itself; `done` runs on the queue when it ends.
    func start(_ message: Message<LogEntryPayload>, path: String, transport: Transport, clusterId: UInt128,
               done: @escaping @Sendable (_ sizeBytes: UInt64, Error?) -> Void) {
        guard case .installSnapshot(let index, let snapshotTerm) = message.body else { preconditionFailure("an install_snapshot message") }
        let peer = message.to
        precondition(!activePeers.contains(peer))
        activePeers.insert(peer)
        let raftFrame = RaftMessageCodec.encode(message, clusterId: clusterId) { _ in preconditionFailure("install_snapshot carries no batch") }
        let from = message.from
        let leaderTerm = message.term
        queue.async {
            var size: UInt64 = 0
            do {
                let fd = open(path, O_RDONLY | O_CLOEXEC)
                guard fd >= 0 else { throw IOError(operation: "open", path: path, errno: errno) }
                defer { close(fd) }
                var info = stat()
                guard fstat(fd, &info) == 0 else { throw IOError(operation: "fstat", path: path, errno: errno) }
                size = UInt64(info.st_size)
                let chunk = UnsafeMutableRawBufferPointer.allocate(byteCount: SnapshotChunkMessage.chunkBytesMax, alignment: 4096)
                defer { chunk.deallocate() }
                var offset: UInt64 = 0
                while offset < size {
                    let count = Int(min(UInt64(chunk.count), size - offset))
                    let read = pread(fd, chunk.baseAddress, count, off_t(offset))
                    guard read == count else { throw IOError(operation: "pread", path: path, errno: read < 0 ? errno : EIO) }
                    let frame = SnapshotChunkMessage.encode(from: from, to: peer, leaderTerm: leaderTerm, snapshotOp: index, snapshotTerm: snapshotTerm,
                                                            fileSizeBytes: size, offset: offset, data: UnsafeRawBufferPointer(rebasing: chunk[0..<count]),
                                                            clusterId: clusterId)
                    guard transport.sendAndWait(to: peer, frame) else {
                        throw SnapshotTransferError(message: "replica \(peer) disconnected at byte \(offset) of \(size)")
                    }
                    offset += UInt64(count)
                }
                guard transport.sendAndWait(to: peer, raftFrame) else {
                    throw SnapshotTransferError(message: "replica \(peer) disconnected before the install_snapshot message")
                }
                done(size, nil)
            } catch {
                done(size, error)
            }
        }
    }

    /// The transfer to `peer` of the snapshot at `op` (`sizeBytes` long) ended (replica thread).
    func finished(peer: Int, op: UInt64, sizeBytes: UInt64, whole: Bool, nowNs: UInt64) {
        activePeers.remove(peer)
        if whole { lastSent[peer] = (op, sizeBytes, nowNs) } else { lastSent[peer] = nil }
    }
}

struct SnapshotTransferError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
