// The 64-byte header in front of every message on a replica's TCP port, peer or client.
import LedgerCore

/// What a frame carries. Peer frames and client frames share one port and one header.
public enum Command: UInt16, Sendable, CaseIterable {
    /// Replica to replica: one Raft message (entries travel as whole batches).
    case raft = 1
    /// Replica to replica: the state digest at one of the sender's snapshot ops (no reply).
    case snapshotDigest = 2
    /// Leader to follower: a piece of a snapshot file, before the Raft install_snapshot message.
    case snapshotChunk = 3
    /// Client to replica: a batch of accounts or transfers to create. Answered by `submitReply`.
    case submit = 10
    case submitReply = 11
    /// Client to replica: look up accounts by id (linearizable, through the leader's read index).
    case lookupAccounts = 12
    case lookupAccountsReply = 13
    /// Client to replica: this replica's role, term, commit and applied op, and state digest.
    case status = 14
    case statusReply = 15
    /// Replica to client: the request or frame was refused; the body is a UTF-8 message.
    /// The replica closes the connection after sending it when the stream cannot be trusted.
    case error = 20
    /// The handshake (`HandshakeTranscript`): the accepting replica's `hello`, the connecting
    /// side's `auth`, the replica's `auth_ok`. Nothing else is read before it succeeds.
    case hello = 30
    case auth = 31
    case authOk = 32
}

/// Every limit of the wire protocol, named with its unit.
public enum WireLimits {
    /// The largest frame body: a full append message (entries of `Limits.batchSizeBytesMax` each)
    /// plus its fixed fields. A header announcing more closes the connection.
    public static let frameBodySizeBytesMax = 4 * Limits.batchSizeBytesMax + 4096
    /// Records in one client request: one request always fits in one batch.
    public static let requestRecordsMax = Limits.batchRecordsMax
    /// Accounts in one lookup request.
    public static let lookupAccountsMax = 8190
}

/// The frame header. Layout (little-endian):
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 4 | header checksum: CRC32C of bytes 4..<64 |
/// | 4 | 4 | magic "WLF1" |
/// | 8 | 2 | protocol version |
/// | 10 | 2 | command |
/// | 12 | 4 | body size in bytes |
/// | 16 | 16 | cluster id |
/// | 32 | 4 | body checksum: CRC32C of the body |
/// | 36 | 4 | reserved, zero |
/// | 40 | 8 | request id (echoed in the reply) |
/// | 48 | 16 | MAC: zero in the handshake's frames, then `FrameMAC`'s tag under the connection's key |
public struct FrameHeader: Equatable, Sendable {
    public var headerChecksum: UInt32
    public var magic: UInt32
    public var protocolVersion: UInt16
    public var commandRaw: UInt16
    public var bodySizeBytes: UInt32
    public var clusterId: UInt128
    public var bodyChecksum: UInt32
    public var reserved0: UInt32
    public var requestId: UInt64
    /// Zero in the handshake's frames; after it, the frame's MAC (`FrameMAC`).
    public var mac: UInt128

    public static let sizeBytes = 64
    /// "WLF1" read as a little-endian word.
    public static let magicValue: UInt32 = 0x3146_4C57
    /// 2: the handshake and a MAC on every frame.
    public static let protocolVersionCurrent: UInt16 = 2

    public init(command: Command, clusterId: UInt128, requestId: UInt64, body: UnsafeRawBufferPointer) {
        headerChecksum = 0
        magic = FrameHeader.magicValue
        protocolVersion = FrameHeader.protocolVersionCurrent
        commandRaw = command.rawValue
        bodySizeBytes = UInt32(body.count)
        self.clusterId = clusterId
        bodyChecksum = Checksum.crc32c(body)
        reserved0 = 0
        self.requestId = requestId
        mac = 0
        headerChecksum = computeHeaderChecksum()
    }

    public var command: Command? { Command(rawValue: commandRaw) }

    public func computeHeaderChecksum() -> UInt32 {
        withUnsafeBytes(of: self) { Checksum.crc32c(UnsafeRawBufferPointer(rebasing: $0[4..<FrameHeader.sizeBytes])) }
    }

    /// Why these 64 bytes are not a frame header this replica accepts, or nil.
    public static func problem(in bytes: UnsafeRawBufferPointer, clusterId: UInt128) -> WireError? {
        precondition(bytes.count >= sizeBytes)
        let header = bytes.loadUnaligned(as: FrameHeader.self)
        if header.magic != magicValue { return .garbled("bad frame magic \(String(header.magic, radix: 16))") }
        if header.headerChecksum != header.computeHeaderChecksum() { return .garbled("frame header checksum mismatch") }
        if header.protocolVersion != protocolVersionCurrent {
            return .garbled("unsupported protocol version \(header.protocolVersion) (this replica speaks \(protocolVersionCurrent))")
        }
        if header.command == nil { return .garbled("unknown command \(header.commandRaw)") }
        if header.reserved0 != 0 { return .garbled("reserved header bytes are not zero") }
        if header.clusterId != clusterId { return .wrongCluster(header.clusterId, expected: clusterId) }
        if Int(header.bodySizeBytes) > WireLimits.frameBodySizeBytesMax {
            return .frameTooLarge(Int(header.bodySizeBytes))
        }
        return nil
    }
}

/// Why a frame or request was refused. Stream-level errors close the connection.
public enum WireError: Error, Equatable, CustomStringConvertible, Sendable {
    case garbled(String)
    case wrongCluster(UInt128, expected: UInt128)
    case frameTooLarge(Int)
    case bodyChecksumMismatch
    case badBody(String)

    public var description: String {
        switch self {
        case .garbled(let why): return "garbled frame: \(why)"
        case .wrongCluster(let got, let expected): return "wrong cluster id \(got) (this is cluster \(expected))"
        case .frameTooLarge(let size):
            return "frame body of \(size) bytes exceeds frame_body_size_bytes_max (\(WireLimits.frameBodySizeBytesMax))"
        case .bodyChecksumMismatch: return "frame body checksum mismatch"
        case .badBody(let why): return "malformed message: \(why)"
        }
    }
}
