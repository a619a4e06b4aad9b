// Cross-replica state checks: every replica snapshots at the same ops, so their digests there must agree.
import LedgerCore

/// Compares this replica's snapshot digests with its peers' at the same op.
///
/// Every replica applies the same committed batches and snapshots after the same number of
/// transfers, so all of them take snapshots at the same ops. Equal logs through an op must give
/// equal states: a different digest at the same op means the applier is not deterministic (a bug),
/// or a replica's memory or disk changed state behind the checksums. It is counted and reported,
/// never repaired silently. Pure: the replica thread feeds it, a test can too.
struct DigestComparison {
    /// Ops remembered per replica; older entries are dropped (snapshots are minutes apart).
    static let opsRemembered = 64

    struct Mismatch: Equatable, CustomStringConvertible {
        var op: UInt64
        var peer: Int
        var local: Hash256
        var remote: Hash256
        var description: String {
            "STATE DIGEST MISMATCH at op \(op): this replica has \(local), replica \(peer) has \(remote) (non-determinism or silent corruption)"
        }
    }

    private(set) var own: [UInt64: Hash256] = [:]
    private(set) var peers: [Int: [UInt64: Hash256]] = [:]
    /// (peer, op) pairs already compared, so a resent digest is not counted twice.
    private var compared: Set<PairKey> = []
    private(set) var comparedCount = 0
    private(set) var mismatchCount = 0
    /// The newest own snapshot digest: what this replica tells its peers.
    private(set) var latestOwn: (op: UInt64, digest: Hash256)?

    private struct PairKey: Hashable {
        var peer: Int
        var op: UInt64
    }

    /// Records this replica's digest at `op`; returns the mismatches with peers already heard from.
    mutating func recordOwn(op: UInt64, digest: Hash256) -> [Mismatch] {
        own[op] = digest
        if latestOwn.map({ op >= $0.op }) ?? true { latestOwn = (op, digest) }
        trim(&own)
        var found: [Mismatch] = []
        for peer in peers.keys.sorted() {
            if let remote = peers[peer]?[op], let mismatch = compare(peer: peer, op: op, local: digest, remote: remote) { found.append(mismatch) }
        }
        return found
    }

    /// Records a peer's digest at `op`; returns a mismatch if this replica's own differs.
    mutating func recordPeer(_ peer: Int, op: UInt64, digest: Hash256) -> Mismatch? {
        peers[peer, default: [:]][op] = digest
        trim(&peers[peer, default: [:]])
        guard let local = own[op] else { return nil }
        return compare(peer: peer, op: op, local: local, remote: digest)
    }

    private mutating func compare(peer: Int, op: UInt64, local: Hash256, remote: Hash256) -> Mismatch? {
        guard compared.insert(PairKey(peer: peer, op: op)).inserted else { return nil }
        if compared.count > DigestComparison.opsRemembered * 16 {
            let oldest = compared.map(\.op).sorted()[compared.count / 2]
            compared = compared.filter { $0.op >= oldest }
        }
        comparedCount += 1
        guard local != remote else { return nil }
        mismatchCount += 1
        return Mismatch(op: op, peer: peer, local: local, remote: remote)
    }

    private func trim(_ digests: inout [UInt64: Hash256]) {
        guard digests.count > DigestComparison.opsRemembered else { return }
        let keep = Set(digests.keys.sorted().suffix(DigestComparison.opsRemembered))
        digests = digests.filter { keep.contains($0.key) }
    }
}
