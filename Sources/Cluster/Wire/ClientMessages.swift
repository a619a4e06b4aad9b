// The client protocol's requests and replies: fixed 16-byte prefixes, then 128-byte records.
import LedgerCore
import NIOCore

/// How a replica answered a client request.
public enum ReplyStatus: UInt16, Sendable, CustomStringConvertible {
    /// Done: the records were committed by a majority, durable, and applied; results follow.
    case ok = 0
    /// This replica does not lead; `leaderHint` names the one it believes does (if any).
    case notLeader = 1
    /// The leader lost its leadership (or its log was cut) before it could answer. The request
    /// may or may not have been applied: retry it unchanged, and ids already applied answer
    /// `exists`.
    case unavailable = 2
    /// More records than `request_records_max`, or an empty request.
    case tooLarge = 3
    /// The request is malformed (unknown record kind, size not a multiple of 128).
    case invalid = 4
    /// The leader has `submit_queue_records_max` records waiting already: back off and retry.
    case busy = 5

    public var description: String {
        switch self {
        case .ok: return "ok"
        case .notLeader: return "not_leader"
        case .unavailable: return "unavailable"
        case .tooLarge: return "too_large"
        case .invalid: return "invalid"
        case .busy: return "busy"
        }
    }
}

/// The 16 bytes in front of every reply body: status u16, leader hint u16 (0xFFFF: unknown),
/// count u32, op u64 (the op the answer reflects: the batch's op, or the applied op of a read).
public struct ReplyPrefix: Equatable, Sendable {
    public var status: ReplyStatus
    public var leaderHint: Int?
    public var count: Int
    public var op: UInt64

    public init(status: ReplyStatus, leaderHint: Int? = nil, count: Int = 0, op: UInt64 = 0) {
        self.status = status
        self.leaderHint = leaderHint
        self.count = count
        self.op = op
    }

    func write(to frame: inout FrameBuilder) {
        frame.write(status.rawValue)
        frame.write(UInt16(leaderHint.map { UInt16($0) } ?? 0xFFFF))
        frame.write(UInt32(count))
        frame.write(op)
    }

    static func read(_ reader: inout WireReader) throws -> ReplyPrefix {
        guard let status = ReplyStatus(rawValue: try reader.read(UInt16.self)) else { throw WireError.badBody("unknown reply status") }
        let hint = try reader.read(UInt16.self)
        let count = Int(try reader.read(UInt32.self))
        let op = try reader.read(UInt64.self)
        return ReplyPrefix(status: status, leaderHint: hint == 0xFFFF ? nil : Int(hint), count: count, op: op)
    }
}

/// Requests and replies of the client protocol.
///
/// - submit: kind u16, reserved u16, count u32, reserved u64, then `count` 128-byte records.
/// - submit_reply: `ReplyPrefix`, then `count` result codes (one byte per record, in order).
/// - lookup_accounts: count u32, flags u32 (zero), reserved u64, then `count` ids of 16 bytes.
/// - lookup_accounts_reply: `ReplyPrefix`, then `count` 128-byte account records (all zero:
///   no such account).
/// - status: empty. status_reply: `ReplicaStatus.encode` layout.
/// - error: UTF-8 text.
public enum ClientMessages {
    public static func submit(kind: RecordKind, records: UnsafeRawBufferPointer, clusterId: UInt128, requestId: UInt64) -> ByteBuffer {
        var frame = FrameBuilder(command: .submit, clusterId: clusterId, requestId: requestId, bodyCapacityBytes: 16 + records.count)
        frame.write(kind.rawValue)
        frame.write(UInt16(0))
        frame.write(UInt32(records.count / Limits.recordSizeBytes))
        frame.write(UInt64(0))
        frame.write(bytes: records)
        return frame.seal()
    }

    /// A decoded submit request, or the status to refuse it with.
    public static func decodeSubmit(_ body: UnsafeRawBufferPointer) -> Result<OwnedRecords, RefusedRequest> {
        var reader = WireReader(body)
        do {
            let kindRaw = try reader.read(UInt16.self)
            let reserved0 = try reader.read(UInt16.self)
            let count = Int(try reader.read(UInt32.self))
            let reserved1 = try reader.read(UInt64.self)
            guard let kind = RecordKind(rawValue: kindRaw), kind != .noop else {
                return .failure(RefusedRequest(status: .invalid, message: "unknown record kind \(kindRaw)"))
            }
            guard reserved0 == 0, reserved1 == 0 else { return .failure(RefusedRequest(status: .invalid, message: "reserved bytes are not zero")) }
            guard count >= 1, count <= WireLimits.requestRecordsMax else {
                return .failure(RefusedRequest(status: .tooLarge, message: "\(count) records: a request carries 1...\(WireLimits.requestRecordsMax) (request_records_max)"))
            }
            guard reader.remaining == count * Limits.recordSizeBytes else {
                return .failure(RefusedRequest(status: .invalid, message: "\(reader.remaining) record bytes for \(count) records of 128 bytes"))
            }
            return .success(OwnedRecords(kind: kind, copying: try reader.readBytes(reader.remaining)))
        } catch {
            return .failure(RefusedRequest(status: .invalid, message: "\(error)"))
        }
    }

    public static func submitReply(_ prefix: ReplyPrefix, results: UnsafeRawBufferPointer, clusterId: UInt128, requestId: UInt64) -> ByteBuffer {
        var frame = FrameBuilder(command: .submitReply, clusterId: clusterId, requestId: requestId, bodyCapacityBytes: 16 + results.count)
        var prefix = prefix
        prefix.count = results.count
        prefix.write(to: &frame)
        frame.write(bytes: results)
        return frame.seal()
    }

    public static func decodeSubmitReply(_ body: UnsafeRawBufferPointer) throws -> (ReplyPrefix, [UInt8]) {
        var reader = WireReader(body)
        let prefix = try ReplyPrefix.read(&reader)
        let results = try reader.readBytes(prefix.count)
        try reader.expectEnd()
        return (prefix, Array(results))
    }

    public static func lookupAccounts(ids: [UInt128], clusterId: UInt128, requestId: UInt64) -> ByteBuffer {
        var frame = FrameBuilder(command: .lookupAccounts, clusterId: clusterId, requestId: requestId, bodyCapacityBytes: 16 + ids.count * 16)
        frame.write(UInt32(ids.count))
        frame.write(UInt32(0))
        frame.write(UInt64(0))
        for id in ids { frame.write(id) }
        return frame.seal()
    }

    public static func decodeLookupAccounts(_ body: UnsafeRawBufferPointer) -> Result<[UInt128], RefusedRequest> {
        var reader = WireReader(body)
        do {
            let count = Int(try reader.read(UInt32.self))
            guard try reader.read(UInt32.self) == 0, try reader.read(UInt64.self) == 0 else {
                return .failure(RefusedRequest(status: .invalid, message: "reserved bytes are not zero"))
            }
            guard count >= 1, count <= WireLimits.lookupAccountsMax else {
                return .failure(RefusedRequest(status: .tooLarge, message: "\(count) ids: a lookup carries 1...\(WireLimits.lookupAccountsMax) (lookup_accounts_max)"))
            }
            var ids: [UInt128] = []
            ids.reserveCapacity(count)
            for _ in 0..<count {
                let low = try reader.read(UInt64.self)
                let high = try reader.read(UInt64.self)
                ids.append(UInt128(high) << 64 | UInt128(low))
            }
            try reader.expectEnd()
            return .success(ids)
        } catch {
            return .failure(RefusedRequest(status: .invalid, message: "\(error)"))
        }
    }

    public static func lookupAccountsReply(_ prefix: ReplyPrefix, accounts: [Account?], clusterId: UInt128, requestId: UInt64) -> ByteBuffer {
        var frame = FrameBuilder(command: .lookupAccountsReply, clusterId: clusterId, requestId: requestId,
                                 bodyCapacityBytes: 16 + accounts.count * Limits.recordSizeBytes)
        var prefix = prefix
        prefix.count = accounts.count
        prefix.write(to: &frame)
        let empty = [UInt8](repeating: 0, count: Limits.recordSizeBytes)
        for account in accounts {
            if var account {
                withUnsafeBytes(of: &account) { frame.write(bytes: $0) }
            } else {
                empty.withUnsafeBytes { frame.write(bytes: $0) }
            }
        }
        return frame.seal()
    }

    public static func decodeLookupAccountsReply(_ body: UnsafeRawBufferPointer) throws -> (ReplyPrefix, [Account?]) {
        var reader = WireReader(body)
        let prefix = try ReplyPrefix.read(&reader)
        var accounts: [Account?] = []
        for _ in 0..<prefix.count {
            let account = try reader.readBytes(Limits.recordSizeBytes).loadUnaligned(as: Account.self)
            accounts.append(account.id == 0 ? nil : account)
        }
        try reader.expectEnd()
        return (prefix, accounts)
    }

    public static func error(_ message: String, clusterId: UInt128, requestId: UInt64 = 0) -> ByteBuffer {
        var frame = FrameBuilder(command: .error, clusterId: clusterId, requestId: requestId)
        frame.buffer.writeString(message)
        return frame.seal()
    }
}

/// A request refused before it reached the log: the status and a message saying why.
public struct RefusedRequest: Error, Equatable, Sendable {
    public var status: ReplyStatus
    public var message: String
}

/// One replica's view, as `wallet status` prints it.
public struct ReplicaStatus: Equatable, Sendable {
    public var replica: Int
    public var replicaCount: Int
    public var role: String
    public var term: UInt64
    public var leader: Int?
    public var commitOp: UInt64
    public var appliedOp: UInt64
    public var lastOp: UInt64
    public var accountsCount: Int
    public var transfersCount: Int
    /// The ledger's state digest after `appliedOp`.
    public var digest: Hash256
    /// The newest snapshot this replica wrote or started from (0: none), and its state digest:
    /// replicas at the same snapshot op must report the same digest.
    public var snapshotOp: UInt64 = 0
    public var snapshotDigest: Hash256 = .zero
    /// Snapshot digests compared with peers' at the same op, and how many differed (a bug: non-determinism).
    public var digestsCompared: UInt64 = 0
    public var digestMismatches: UInt64 = 0
    /// Messages from peers this replica dropped unread (out of bounds, misshapen, or contradicting
    /// what it knows committed): a correct cluster never sends one.
    public var messagesDropped: UInt64 = 0
    /// Connections whose handshake failed, or whose frames' MACs did not verify.
    public var authenticationFailures: UInt64 = 0

    public init(replica: Int, replicaCount: Int, role: String, term: UInt64, leader: Int?, commitOp: UInt64, appliedOp: UInt64,
                lastOp: UInt64, accountsCount: Int, transfersCount: Int, digest: Hash256) {
        self.replica = replica
        self.replicaCount = replicaCount
        self.role = role
        self.term = term
        self.leader = leader
        self.commitOp = commitOp
        self.appliedOp = appliedOp
        self.lastOp = lastOp
        self.accountsCount = accountsCount
        self.transfersCount = transfersCount
        self.digest = digest
    }

    static let roles = ["follower", "pre_candidate", "candidate", "leader"]

    /// replica u8, replica_count u8, role u8, leader u8 (0xFF: unknown), reserved u32, term,
    /// commit_op, applied_op, last_op, accounts, transfers (u64 each), digest (32 bytes),
    /// snapshot_op (u64), snapshot digest (32 bytes), digests_compared, digest_mismatches,
    /// messages_dropped, authentication_failures (u64 each).
    public func encode(clusterId: UInt128, requestId: UInt64) -> ByteBuffer {
        var frame = FrameBuilder(command: .statusReply, clusterId: clusterId, requestId: requestId)
        frame.write(UInt8(replica))
        frame.write(UInt8(replicaCount))
        frame.write(UInt8(ReplicaStatus.roles.firstIndex(of: role) ?? 0))
        frame.write(UInt8(leader ?? 0xFF))
        frame.write(UInt32(0))
        for value in [term, commitOp, appliedOp, lastOp, UInt64(accountsCount), UInt64(transfersCount)] { frame.write(value) }
        withUnsafeBytes(of: digest) { frame.write(bytes: $0) }
        frame.write(snapshotOp)
        withUnsafeBytes(of: snapshotDigest) { frame.write(bytes: $0) }
        frame.write(digestsCompared)
        frame.write(digestMismatches)
        frame.write(messagesDropped)
        frame.write(authenticationFailures)
        return frame.seal()
    }

    public static func decode(_ body: UnsafeRawBufferPointer) throws -> ReplicaStatus {
        var reader = WireReader(body)
        let replica = Int(try reader.read(UInt8.self))
        let replicaCount = Int(try reader.read(UInt8.self))
        let role = Int(try reader.read(UInt8.self))
        let leader = try reader.read(UInt8.self)
        _ = try reader.read(UInt32.self)
        var values: [UInt64] = []
        for _ in 0..<6 { values.append(try reader.read(UInt64.self)) }
        let digest = try reader.readBytes(32).loadUnaligned(as: Hash256.self)
        let snapshotOp = try reader.read(UInt64.self)
        let snapshotDigest = try reader.readBytes(32).loadUnaligned(as: Hash256.self)
        let digestsCompared = try reader.read(UInt64.self)
        let digestMismatches = try reader.read(UInt64.self)
        let messagesDropped = try reader.read(UInt64.self)
        let authenticationFailures = try reader.read(UInt64.self)
        try reader.expectEnd()
        guard values[4] <= UInt64(Int.max), values[5] <= UInt64(Int.max) else { throw WireError.badBody("account or transfer count past Int.max") }
        guard role < roles.count else { throw WireError.badBody("unknown role \(role)") }
        var status = ReplicaStatus(replica: replica, replicaCount: replicaCount, role: roles[role], term: values[0],
                                   leader: leader == 0xFF ? nil : Int(leader), commitOp: values[1], appliedOp: values[2], lastOp: values[3],
                                   accountsCount: Int(values[4]), transfersCount: Int(values[5]), digest: digest)
        status.snapshotOp = snapshotOp
        status.snapshotDigest = snapshotDigest
        status.digestsCompared = digestsCompared
        status.digestMismatches = digestMismatches
        status.messagesDropped = messagesDropped
        status.authenticationFailures = authenticationFailures
        return status
    }
}
