// Leader to follower: one piece of a snapshot file, ahead of the Raft install_snapshot message.
import LedgerCore
import NIOCore

/// Body (little-endian): from u8, to u8, reserved u16 (zero), reserved u32 (zero), leader term u64,
/// snapshot op u64, snapshot term u64, file size u64, offset u64, then the file's bytes at that
/// offset (at least one, at most `chunkBytesMax`). 48 bytes before the data.
///
/// A leader sends a file's chunks in order on its one connection to the follower, then the Raft
/// `install_snapshot` message. The follower writes them to a temporary file; the file is only
/// trusted once whole and read back through every snapshot check (chunk CRCs, digest, op).
public struct SnapshotChunkMessage: Sendable {
    /// Bytes of a snapshot file per frame: small next to the frame limit, and a follower's heartbeat
    /// waits behind at most one chunk on the connection.
    public static let chunkBytesMax = 1 << 20
    static let prefixBytes = 48

    public var from: Int
    public var to: Int
    public var leaderTerm: UInt64
    public var snapshotOp: UInt64
    public var snapshotTerm: UInt64
    public var fileSizeBytes: UInt64
    public var offset: UInt64
    public var bytes: [UInt8]

    public init(from: Int, to: Int, leaderTerm: UInt64, snapshotOp: UInt64, snapshotTerm: UInt64, fileSizeBytes: UInt64, offset: UInt64, bytes: [UInt8]) {
        self.from = from
        self.to = to
        self.leaderTerm = leaderTerm
        self.snapshotOp = snapshotOp
        self.snapshotTerm = snapshotTerm
        self.fileSizeBytes = fileSizeBytes
        self.offset = offset
        self.bytes = bytes
    }

    /// Encodes a chunk of `data` without copying it into an array first.
    public static func encode(from: Int, to: Int, leaderTerm: UInt64, snapshotOp: UInt64, snapshotTerm: UInt64, fileSizeBytes: UInt64,
                              offset: UInt64, data: UnsafeRawBufferPointer, clusterId: UInt128) -> ByteBuffer {
        precondition(!data.isEmpty && data.count <= chunkBytesMax)
        var frame = FrameBuilder(command: .snapshotChunk, clusterId: clusterId, requestId: 0, bodyCapacityBytes: prefixBytes + data.count)
        frame.write(UInt8(from))
        frame.write(UInt8(to))
        frame.write(UInt16(0))
        frame.write(UInt32(0))
        frame.write(leaderTerm)
        frame.write(snapshotOp)
        frame.write(snapshotTerm)
        frame.write(fileSizeBytes)
        frame.write(offset)
        frame.write(bytes: data)
        return frame.seal()
    }

    public static func decode(_ body: UnsafeRawBufferPointer, localId: Int, replicaCount: Int) throws -> SnapshotChunkMessage {
        var reader = WireReader(body)
        let from = Int(try reader.read(UInt8.self))
        let to = Int(try reader.read(UInt8.self))
        guard try reader.read(UInt16.self) == 0, try reader.read(UInt32.self) == 0 else { throw WireError.badBody("reserved bytes are not zero") }
        guard to == localId else { throw WireError.badBody("snapshot chunk for replica \(to) arrived at replica \(localId)") }
        guard from < replicaCount, from != localId else { throw WireError.badBody("snapshot chunk from replica \(from), not a peer") }
        let leaderTerm = try reader.read(UInt64.self)
        let snapshotOp = try reader.read(UInt64.self)
        let snapshotTerm = try reader.read(UInt64.self)
        let fileSizeBytes = try reader.read(UInt64.self)
        let offset = try reader.read(UInt64.self)
        let count = reader.remaining
        guard count >= 1, count <= chunkBytesMax else { throw WireError.badBody("snapshot chunk of \(count) bytes (1...\(chunkBytesMax))") }
        guard snapshotOp >= 1, fileSizeBytes <= SnapshotChunkMessage.fileSizeBytesMax, offset + UInt64(count) <= fileSizeBytes else {
            throw WireError.badBody("snapshot chunk at offset \(offset) (+\(count)) of a \(fileSizeBytes)-byte file at op \(snapshotOp)")
        }
        let bytes = Array(try reader.readBytes(count))
        return SnapshotChunkMessage(from: from, to: to, leaderTerm: leaderTerm, snapshotOp: snapshotOp, snapshotTerm: snapshotTerm,
                                    fileSizeBytes: fileSizeBytes, offset: offset, bytes: bytes)
    }

    /// The largest snapshot file a follower accepts (snapshot_file_size_bytes_max): 64 GiB.
    public static let fileSizeBytesMax: UInt64 = 64 << 30
}
