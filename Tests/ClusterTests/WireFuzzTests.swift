// Random and mutated frames at a real 3-replica cluster: from strangers (refused at the handshake
// or by the frame decoder), and frames malformed at the codec level from connections that hold the
// key (as a client, and as a peer). No replica exits, status keeps answering, digests stay equal.
@testable import Cluster
import Foundation
import LedgerCore
import NIOCore
import Randomness
import TestSupport
import XCTest

final class WireFuzzTests: XCTestCase {
    static let clusterId: UInt128 = 61

    /// A sealed frame of `command` around `body` (checksums right, so the body reaches its codec).
    private func frame(_ command: Command, _ body: [UInt8], requestId: UInt64 = 1) -> ByteBuffer {
        var builder = FrameBuilder(command: command, clusterId: Self.clusterId, requestId: requestId, bodyCapacityBytes: body.count)
        body.withUnsafeBytes { builder.write(bytes: $0) }
        return builder.seal()
    }

    private func bytes(_ buffer: ByteBuffer) -> [UInt8] { Array(buffer.readableBytesView) }

    /// Valid frames of every client command, and a valid append, for mutations to start from.
    private func seeds() -> (client: [[UInt8]], append: [UInt8]) {
        let accounts = [Account(id: 900, ledger: 1), Account(id: 901, ledger: 1)]
        let transfers = [Transfer(id: 9_000, debitAccountId: 900, creditAccountId: 901, amount: 3, ledger: 1)]
        let client = [
            bytes(accounts.withUnsafeBytes { ClientMessages.submit(kind: .accounts, records: $0, clusterId: Self.clusterId, requestId: 1) }),
            bytes(transfers.withUnsafeBytes { ClientMessages.submit(kind: .transfers, records: $0, clusterId: Self.clusterId, requestId: 2) }),
            bytes(ClientMessages.lookupAccounts(ids: [900, 1, 2], clusterId: Self.clusterId, requestId: 3)),
            bytes(FrameBuilder(command: .status, clusterId: Self.clusterId, requestId: 4).seal()),
        ]
        return (client, bytes(ForgedFrameTests.forgedAppend(from: 1, to: 0, term: 1)))
    }

    /// The body of `frameBytes`, mutated so that it can no longer decode: cut short, a byte
    /// flipped inside an entry's batch (its checksum fails), reserved bytes set, or an unknown kind.
    private func malformedRaftBody(_ frameBytes: [UInt8], _ random: inout SplitMix64) -> [UInt8] {
        var body = Array(frameBytes[FrameHeader.sizeBytes...])
        switch random.below(4) {
        case 0: return Array(body.prefix(random.below(body.count)))
        case 1:
            // The append's fixed fields end at byte 52; the batch header follows: any byte changed fails its checksum.
            body[52 + random.below(Limits.batchHeaderSizeBytes)] ^= UInt8(1 + random.below(255))
            return body
        case 2:
            body[3 + random.below(5)] = UInt8(1 + random.below(255))
            return body
        default:
            body[0] = UInt8(8 + random.below(248))
            return body
        }
    }

    private func mutated(_ source: [UInt8], _ random: inout SplitMix64) -> [UInt8] {
        var bytes = source
        for _ in 0..<(1 + random.below(4)) {
            switch random.below(4) {
            case 0 where !bytes.isEmpty: bytes[random.below(bytes.count)] = UInt8(truncatingIfNeeded: random.next())
            case 1: bytes.insert(UInt8(truncatingIfNeeded: random.next()), at: random.below(bytes.count + 1))
            case 2 where !bytes.isEmpty: bytes.remove(at: random.below(bytes.count))
            default: bytes = Array(bytes.prefix(random.below(bytes.count + 1)))
            }
        }
        return bytes
    }

    /// Sends and closes (what the replica reads before the close it handles all the same).
    private func deliver(_ payload: [UInt8], to address: PeerAddress, key: SecretKey?, asPeer: Int?, signed: Bool) {
        guard let connection = try? FrameConnection(address: address, clusterId: Self.clusterId, timeoutMs: 2_000, key: key, asPeer: asPeer) else { return }
        defer { connection.close() }
        var buffer = ByteBufferAllocator().buffer(capacity: payload.count)
        buffer.writeBytes(payload)
        if signed && payload.count >= FrameHeader.sizeBytes { try? connection.send(buffer) } else { try? connection.sendUnsigned(buffer) }
    }

    func testRandomAndMalformedFramesLeaveTheClusterServingAndAgreeing() throws {
        let casesPerKind = Int(ProcessInfo.processInfo.environment["FUZZ_WIRE_CASES"] ?? "") ?? 1000
        let directory = TemporaryDirectory()
        let cluster = try LocalCluster(walletPath: WalletBinary.path, root: directory.path, replicaCount: 3, clusterId: Self.clusterId, segmentSizeMib: 16)
        defer { cluster.stopAll() }
        try cluster.startAll()
        let leader = try cluster.waitForLeader()
        let client = ClusterClient(addresses: cluster.addresses, clusterId: Self.clusterId, key: cluster.key)
        defer { client.close() }
        XCTAssertEqual(try [Account(id: 1, ledger: 1), Account(id: 2, ledger: 1)].withUnsafeBytes { try client.submit(kind: .accounts, records: $0) }.results, [0, 0])

        var random = SplitMix64(seed: 20_261_202)
        let (clientSeeds, append) = seeds()
        let started = Date()
        var sent = [0, 0, 0, 0]
        // Bounded: casesPerKind of each kind, and never past 180 s.
        for index in 0..<(4 * casesPerKind) where Date().timeIntervalSince(started) < 180 {
            let target = index % 3
            let address = cluster.addresses[target]
            switch index % 4 {
            case 0:  // a stranger: random bytes, or a valid frame mutated, with no handshake
                let payload = random.below(2) == 0 ? (0..<random.below(200)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
                    : mutated(clientSeeds[random.below(clientSeeds.count)], &random)
                deliver(payload, to: address, key: nil, asPeer: nil, signed: false)
            case 1:  // an authenticated client: a request body mutated, re-sealed so it reaches the codec
                let seed = clientSeeds[random.below(clientSeeds.count)]
                let command = seed.withUnsafeBytes { $0.loadUnaligned(as: FrameHeader.self) }.command!
                deliver(bytes(frame(command, mutated(Array(seed[FrameHeader.sizeBytes...]), &random))), to: address, key: cluster.key, asPeer: nil, signed: true)
            case 2:  // an authenticated client sending what only peers may, or frames cut or unsigned
                let choices = [bytes(frame(.raft, Array(append[FrameHeader.sizeBytes...]))), bytes(frame(.snapshotDigest, [1, 2, 3])),
                               mutated(clientSeeds[random.below(clientSeeds.count)], &random)]
                let pick = random.below(choices.count)
                deliver(choices[pick], to: address, key: cluster.key, asPeer: nil, signed: pick < 2)
            default:  // an authenticated peer: Raft and snapshot bodies malformed at the codec level
                let peer = (target + 1 + random.below(2)) % 3
                let body = random.below(4) == 0 ? Array((0..<random.below(60)).map { _ in UInt8(truncatingIfNeeded: random.next()) })
                    : malformedRaftBody(bytes(ForgedFrameTests.forgedAppend(from: peer, to: target, term: 1)), &random)
                let command: Command = [.raft, .raft, .snapshotChunk, .snapshotDigest][random.below(4)]
                deliver(bytes(frame(command, command == .raft ? body : Array(body.prefix(random.below(30))))), to: address, key: cluster.key, asPeer: peer, signed: true)
            }
            sent[index % 4] += 1
        }
        print("wire fuzz: \(sent) cases (stranger, client body, client misuse, peer codec) in \(String(format: "%.1f", Date().timeIntervalSince(started))) s")

        for replica in 0..<3 {
            XCTAssertTrue(cluster.isRunning(replica), "replica \(replica) exited:\n" + ((try? String(contentsOfFile: cluster.logPath(replica), encoding: .utf8))?.suffix(3000).description ?? ""))
        }
        // Still serving (the fuzzed clients may have written valid records too), and agreeing.
        let transfers = (1...10).map { Transfer(id: UInt128(50_000 + $0), debitAccountId: 1, creditAccountId: 2, amount: 1, ledger: 1) }
        XCTAssertEqual(Set(try transfers.withUnsafeBytes { try client.submit(kind: .transfers, records: $0) }.results), [TransferResult.ok.rawValue])
        let statuses = try cluster.waitUntilConverged()
        XCTAssertEqual(Set(statuses.map(\.digest)).count, 1, "digests differ: \(statuses.map(\.digest))")
        XCTAssertTrue(statuses.allSatisfy { $0.authenticationFailures > 0 }, "strangers were counted")
        XCTAssertEqual(statuses.filter { $0.role == "leader" }.count, 1)
        _ = leader
    }
}
