// `wallet ingest`: durable ingest of batch and CSV files into a local data directory.
import ArgumentParser
import Cluster
import Foundation
import LedgerCore
import Replica
import Storage

struct IngestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "Ingest batch files or CSV files; durable when it returns.",
        discussion: """
            CSV transfers: header transaction_id,from_account,to_account,amount,currency[,flags[,pending_id]].
            CSV accounts: header account_id,currency[,flags]. Every file is checked before anything is \
            ingested: a bad file is reported with its line or byte offset and nothing is written.
            """)

    @Option(help: "The data directory (made by 'wallet format'); or give --addresses.") var data: String?
    @OptionGroup var access: ClusterAccess
    @Option(help: "With --addresses: concurrent clients, one request in flight each.") var clients: Int = 4
    @Option(name: .customLong("snapshot-interval-transfers"),
            help: "Local node: after the ingest, snapshot and archive (as 'wallet compact') once this many transfers follow the newest snapshot (snapshot_interval_transfers; 0: never).")
    var snapshotIntervalTransfers: Int = 10_000_000
    @Option(help: "Write every refused record (file, line or batch and record, id, result) to this CSV file.") var rejects: String?
    @Flag(help: "Print the report as one JSON object (with every refused record).") var json = false
    @Argument(help: "Batch files or CSV files, ingested in order.") var files: [String]

    func run() throws {
        try reportingErrors {
            let input = try InputFiles(paths: files)
            if let (addresses, clusterId, key) = try access.parsed() {
                guard data == nil else { throw UserError("give either --data or --addresses, not both") }
                guard clients >= 1 && clients <= 256 else { throw UserError("--clients \(clients) is outside 1...256") }
                try ingestIntoCluster(input, addresses: addresses, clusterId: clusterId, key: key)
                return
            }
            guard let data else { throw UserError("ingest needs --data DIR or --addresses A,B,C") }
            let node = try openNode(data: data, readOnly: false)
            let total = input.transfersCount + input.accountsCount
            let progress = Progress("ingest", total: total, unit: "records", quiet: json)
            guard snapshotIntervalTransfers >= 0 else { throw UserError("--snapshot-interval-transfers must be 0 (never) or more") }
            let report = try node.ingest(input.submissions, progress: { progress.update($0) })
            progress.finish()
            try printReport(report, json: json, rejected: IngestRejects(refused: report.refused, input: input))
            // The compactor's schedule for a local node: by transfers since the newest snapshot.
            let newestSnapshotOp = try SnapshotFile.list(dataPath: data).last?.op ?? 0
            let sinceSnapshot = LocalNode.recordCounts(node.log, from: newestSnapshotOp + 1).transfers
            if snapshotIntervalTransfers > 0 && sinceSnapshot >= snapshotIntervalTransfers {
                let startNs = monotonicNowNs()
                let written = try node.compact()
                if !json {
                    print("  compacted (\(formatCount(sinceSnapshot)) transfers since the last snapshot): snapshot at op \(written.op), "
                        + "\(written.archived.count) segments archived, \((monotonicNowNs() - startNs) / 1_000_000) ms")
                }
            }
        }
    }

    /// Sends every record through the client library: requests of at most request_records_max,
    /// retried with back-off across leader changes; the report counts what the cluster answered.
    private func ingestIntoCluster(_ input: InputFiles, addresses: [PeerAddress], clusterId: UInt128, key: SecretKey) throws {
        var requests: [SubmitRequest] = []
        for submission in input.submissions {
            requests += SubmitRequest.split(kind: submission.kind, records: submission.records, recordsPerRequest: WireLimits.requestRecordsMax)
        }
        let total = input.transfersCount + input.accountsCount
        let progress = Progress("ingest", total: total, unit: "records", quiet: json)
        let lock = NSLock()
        let submitter = ConcurrentSubmitter(addresses: addresses, clusterId: clusterId, key: key, clients: clients, policy: try access.policy(), tls: try access.tls())
        let outcome = submitter.run(requests, progress: { done in lock.lock(); progress.update(done); lock.unlock() })
        progress.finish()
        var report = IngestReport()
        report.elapsedNs = outcome.elapsedNs
        report.batchesCount = requests.count
        var firstIndex = 0  // requests are split from the submissions in order
        for (index, request) in requests.enumerated() {
            defer { firstIndex += request.count }
            guard let results = outcome.results[index] else { continue }
            for (position, code) in results.enumerated() {
                if request.kind == .transfers { report.transferResults[Int(code)] += 1 } else { report.accountResults[Int(code)] += 1 }
                if code != 0 { report.refused.append(RefusedRecord(index: firstIndex + position, kind: request.kind, result: code)) }
            }
            if request.kind == .transfers { report.transfersCount += results.count } else { report.accountsCount += results.count }
        }
        try printReport(report, json: json, rejected: IngestRejects(refused: report.refused, input: input), requests: requests.count,
                        retriedExists: outcome.existsOnRetry, ambiguousRequests: outcome.ambiguousRequests)
        if !outcome.failures.isEmpty {
            throw UserError("\(outcome.failures.count) requests failed (records of other requests were applied exactly once): \(outcome.failures[0])")
        }
    }

    private func printReport(_ report: IngestReport, json: Bool, rejected: IngestRejects, requests: Int? = nil, retriedExists: Int = 0,
                             ambiguousRequests: Int = 0) throws {
        if let rejects { try rejected.write(csvPath: rejects) }
        let rate = formatRate(report.transfersCount + report.accountsCount, elapsedNs: report.elapsedNs)
        let transferRate = formatRate(report.transfersCount, elapsedNs: report.elapsedNs)
        let transferCounts = TransferResult.allCases.filter { report.transferResults[Int($0.rawValue)] > 0 }
            .map { ($0.name, report.transferResults[Int($0.rawValue)]) }
        let accountCounts = AccountResult.allCases.filter { report.accountResults[Int($0.rawValue)] > 0 }
            .map { ($0.name, report.accountResults[Int($0.rawValue)]) }
        if json {
            let transfers = transferCounts.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",")
            let accounts = accountCounts.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",")
            print("{\"transfers\":\(report.transfersCount),\"accounts\":\(report.accountsCount),\"batches\":\(report.batchesCount),"
                + "\"records_per_s\":\(rate),\"transfers_per_s\":\(transferRate),\"elapsed_ms\":\(report.elapsedNs / 1_000_000),"
                + "\"transfer_results\":{\(transfers)},\"account_results\":{\(accounts)},\"exists_on_retry\":\(retriedExists),\"ambiguous_requests\":\(ambiguousRequests),\"already_there\":\(rejected.alreadyThere),\(rejected.json)}")
            return
        }
        // Each count says what it counts: records sent, and of them how many were applied ok.
        let transfersOk = report.transferResults[Int(TransferResult.ok.rawValue)]
        let accountsOk = report.accountResults[Int(AccountResult.ok.rawValue)]
        let records = "\(counted(report.transfersCount, "transfer")) (\(formatCount(transfersOk)) ok, \(formatCount(report.transfersCount - transfersOk)) refused) and "
            + "\(counted(report.accountsCount, "account")) (\(formatCount(accountsOk)) ok, \(formatCount(report.accountsCount - accountsOk)) refused)"
        if report.transfersCount + report.accountsCount == 0 {
            print("nothing ingested: the files hold no records (only a header row?)")
            return
        }
        if let requests {
            print("ingested \(records) in \(counted(requests, "request")), committed by a majority and applied")
            if retriedExists > 0 { print("  \(formatCount(retriedExists)) records answered exists on a retry: applied once, by an earlier attempt") }
        } else {
            let ops = report.firstOp == report.lastOp ? "op \(report.firstOp)" : "ops \(report.firstOp)...\(report.lastOp)"
            print("ingested \(records) in \(counted(report.batchesCount, "batch")) (\(ops)), durable")
        }
        print("  \(formatCount(transferRate)) transfers/s (\(formatCount(rate)) records/s), \(report.elapsedNs / 1_000_000) ms")
        for (name, count) in accountCounts { print("  account \(name): \(formatCount(count))") }
        for (name, count) in transferCounts { print("  transfer \(name): \(formatCount(count))") }
        if rejected.alreadyThere > 0 {
            let total = report.transfersCount + report.accountsCount
            print("  \(formatCount(total - rejected.alreadyThere)) records new, \(formatCount(rejected.alreadyThere)) already there (answered exists: a file ingested before?)")
        }
        rejected.printFirst(rejectsPath: rejects)
    }
}

/// Opens a local node, replaying its log with a progress bar.
func openNode(data: String, readOnly: Bool, quiet: Bool = false) throws -> LocalNode {
    var progress: Progress?
    let node = try LocalNode(path: data, readOnly: readOnly, replayProgress: { op, lastOp in
        if progress == nil { progress = Progress("replay", total: Int(lastOp), unit: "batches", quiet: quiet) }
        progress?.update(Int(op))
    })
    progress?.finish()
    if let cut = node.log.tailTruncation { printError("wallet: warning: \(cut)") }
    for problem in node.snapshotProblems { printError("wallet: warning: \(problem)") }
    return node
}
