// Replica to replica: "my state at op N has digest D", for the cross-replica determinism check.
import LedgerCore
import NIOCore

/// Body: sender replica u64, op u64, state digest (32 bytes): 48 bytes, nothing else.
public struct SnapshotDigestMessage: Equatable, Sendable {
    public static let bodySizeBytes = 48

    public var from: Int
    public var op: UInt64
    public var digest: Hash256

    public func encode(clusterId: UInt128) -> ByteBuffer {
        var frame = FrameBuilder(command: .snapshotDigest, clusterId: clusterId, requestId: 0, bodyCapacityBytes: SnapshotDigestMessage.bodySizeBytes)
        frame.write(UInt64(from))
        frame.write(op)
        withUnsafeBytes(of: digest) { frame.write(bytes: $0) }
        return frame.seal()
    }

    /// Checks the sender is another replica of this cluster and the op is real.
    public static func decode(_ body: UnsafeRawBufferPointer, localId: Int, replicaCount: Int) throws -> SnapshotDigestMessage {
        var reader = WireReader(body)
        let from = try reader.read(UInt64.self)
        let op = try reader.read(UInt64.self)
        let digest = try reader.readBytes(32).loadUnaligned(as: Hash256.self)
        try reader.expectEnd()
        guard from < UInt64(replicaCount), Int(from) != localId else {
            throw WireError.badBody("snapshot digest from replica \(from), which is not a peer of replica \(localId) of \(replicaCount)")
        }
        guard op >= 1 else { throw WireError.badBody("snapshot digest at op 0") }
        return SnapshotDigestMessage(from: Int(from), op: op, digest: digest)
    }
}
