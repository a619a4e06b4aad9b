// `wallet status`: every replica's role, term, commit and applied op, and state digest.
import ArgumentParser
import Cluster
import LedgerCore

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Ask each replica of a cluster for its role, term, ops and state digest.")

    @OptionGroup var access: ClusterAccess
    @Flag(help: "Print one JSON object: {\"replicas\": [...]}.") var json = false

    func run() throws {
        try reportingErrors {
            guard let (addresses, clusterId, key) = try access.parsed() else { throw UserError("status needs --addresses") }
            var policy = try access.policy(defaultTimeoutMs: 2_000)
            policy.requestTimeoutMs = policy.silenceTimeoutMs
            let client = ClusterClient(addresses: addresses, clusterId: clusterId, key: key, policy: policy, tls: try access.tls())
            defer { client.close() }
            var lines: [String] = []
            var objects: [String] = []
            var reachable = 0
            for replica in addresses.indices {
                do {
                    let status = try client.status(ofReplica: replica)
                    reachable += 1
                    let leader = status.leader.map(String.init) ?? "null"
                    objects.append("{\"replica\":\(replica),\"address\":\"\(addresses[replica])\",\"up\":true,\"role\":\"\(status.role)\",\"term\":\(status.term),\"leader\":\(leader),\"commit_op\":\(status.commitOp),\"applied_op\":\(status.appliedOp),\"last_op\":\(status.lastOp),\"accounts\":\(status.accountsCount),\"transfers\":\(status.transfersCount),\"digest\":\"\(status.digest.description)\",\"snapshot_op\":\(status.snapshotOp),\"snapshot_digest\":\"\(status.snapshotDigest.description)\",\"digests_compared\":\(status.digestsCompared),\"digest_mismatches\":\(status.digestMismatches),\"messages_dropped\":\(status.messagesDropped)}")
                    lines.append("replica \(replica) \(addresses[replica]): \(status.role), term \(status.term), commit op \(status.commitOp), applied op \(status.appliedOp), last op \(status.lastOp), \(formatCount(status.accountsCount)) accounts and \(formatCount(status.transfersCount)) transfer ids stored (ok, or refused after spending their id), digest \(status.digest.description)" + (status.snapshotOp > 0 ? ", snapshot at op \(status.snapshotOp) \(status.snapshotDigest.description.prefix(16))" : "")
                        + (status.digestsCompared > 0 || status.digestMismatches > 0 ? ", \(status.digestsCompared) digests compared with peers, \(status.digestMismatches) MISMATCHED" : "")
                        + (status.messagesDropped > 0 ? ", \(status.messagesDropped) peer messages DROPPED (forged or corrupted)" : ""))
                } catch {
                    objects.append("{\"replica\":\(replica),\"address\":\"\(addresses[replica])\",\"up\":false,\"error\":\"\(jsonEscaped("\(error)"))\"}")
                    lines.append("replica \(replica) \(addresses[replica]): unreachable: \(error)")
                }
            }
            if json {
                print("{\"replicas\":[\(objects.joined(separator: ","))]}")
            } else {
                for line in lines { print(line) }
            }
            if reachable == 0 { throw UserError("no replica answered") }
        }
    }
}

func jsonEscaped(_ text: String) -> String {
    var out = ""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        default:
            if scalar.value < 0x20 { out += String(format: "\\u%04x", scalar.value) } else { out.unicodeScalars.append(scalar) }
        }
    }
    return out
}
