// `wallet bench`: the applier alone, durable ingest end to end, and the disk's own speed, in one run.
import ArgumentParser
import Foundation
import Histogram
import LedgerCore
import Replica
import Storage
import Workload
#if canImport(Glibc)
import Glibc
#endif

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure applier and durable ingest throughput against the raw disk baseline.")

    @Option(help: "Number of accounts.") var accounts: Int = 1_000_000
    @Option(help: "Number of transfers.") var transfers: Int = 10_000_000
    @Option(help: "uniform or zipf.") var distribution: String = "uniform"
    @Option(help: "Records per batch (batch_records_max is \(Limits.batchRecordsMax)).") var batchSize: Int = Limits.batchRecordsMax
    @Option(help: "Scratch directory on the disk to measure (removed afterwards).") var dir: String = "bench-data"
    @Option(help: "Bytes written by the raw disk baseline, in MiB.") var baselineMib: Int = 512
    @Flag(help: "Print one JSON object.") var json = false
    @Flag(help: "Measure the applier only (for profiling).") var applierOnly = false
    @Option(help: "Applier runs, each on a fresh ledger; the median is reported.") var applierRuns: Int = 3
    @Option(help: "Benchmark a cluster of this many replica processes on 127.0.0.1 (started and stopped by the bench).")
    var replicas: Int?
    @OptionGroup var access: ClusterAccess
    @Option(help: "Cluster bench: concurrent clients, one batch in flight each.") var clients: Int = 8
    @Flag(help: "Cluster bench with --replicas: TLS on every connection (a throwaway CA and certificate, made with openssl).")
    var tls = false
    @Option(name: .customLong("snapshot-interval-transfers"),
            help: "Cluster bench: the replicas' compactor schedule (snapshot_interval_transfers; 0: off), to measure what snapshots and archiving cost ingest.")
    var snapshotIntervalTransfers: Int = 10_000_000

    func run() throws {
        try reportingErrors {
            guard let parsedDistribution = Distribution(rawValue: distribution) else {
                throw UserError("--distribution '\(distribution)' is not one of uniform, zipf")
            }
            guard accounts >= 2, transfers >= 1 else { throw UserError("--accounts must be at least 2 and --transfers at least 1") }
            guard batchSize >= 1 && batchSize <= Limits.batchRecordsMax else {
                throw UserError("--batch-size \(batchSize) is outside 1...\(Limits.batchRecordsMax) (batch_records_max)")
            }
            guard baselineMib >= 16 else { throw UserError("--baseline-mib must be at least 16") }
            guard applierRuns >= 1 && applierRuns <= 9 else { throw UserError("--applier-runs must be 1...9") }
            if replicas != nil || access.addresses != nil {
                try runClusterBench(parsedDistribution)
                return
            }
            try runBench(parsedDistribution)
        }
    }

    func say(_ line: String) {
        if !json { print(line) } else { printError(line) }
        fflush(stdout)
    }

    private func runBench(_ parsedDistribution: Distribution) throws {
        var spec = WorkloadSpec(accounts: accounts, transfers: transfers)
        spec.distribution = parsedDistribution
        let workload = Workload(spec: spec)
        let generateStartNs = monotonicNowNs()
        let accountRecords = workload.accounts()
        let transferRecords = workload.transfers()
        say("generated \(formatCount(accounts)) accounts and \(formatCount(transfers)) transfers (\(distribution)) in \((monotonicNowNs() - generateStartNs) / 1_000_000) ms")

        let checksums = measureChecksums()
        say("checksums over 1 MiB batches: crc32c \(String(format: "%.1f", checksums.crcGBps)) GB/s (\(Checksum.isHardware ? "hardware" : "portable table")), sha-256 \(String(format: "%.2f", checksums.shaGBps)) GB/s")

        var applierRuns: [(rate: Int, elapsedNs: UInt64, okCount: Int)] = []
        for _ in 0..<self.applierRuns { applierRuns.append(measureApplier(accountRecords, transferRecords)) }
        applierRuns.sort { $0.rate < $1.rate }
        let applier = applierRuns[applierRuns.count / 2]
        let spread = applierRuns.count > 1 ? " (runs: \(applierRuns.map { formatCount($0.rate) }.joined(separator: ", ")))" : ""
        say("applier (in memory, one core): \(formatCount(applier.rate)) transfers/s median of \(applierRuns.count)\(spread); \(formatCount(applier.okCount)) ok")
        if applierOnly { return }

        if FileManager.default.fileExists(atPath: dir) {
            throw UserError("\(dir) exists: give --dir a path that does not exist (it is removed afterwards)")
        }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }

        let baselineMBps = try measureDiskBaseline(path: dir + "/baseline.bin")
        say("disk baseline (1 MiB writes + fdatasync, same disk): \(String(format: "%.0f", baselineMBps)) MB/s")

        let ingest = try measureIngest(accountRecords, transferRecords, dataPath: dir + "/data")
        let ingestMBps = Double(ingest.bytes) / (Double(ingest.elapsedNs) / 1e9) / 1e6
        let share = ingestMBps / baselineMBps * 100
        say("durable ingest (batch → segment → msync → apply): \(formatCount(ingest.rate)) transfers/s, \(String(format: "%.0f", ingestMBps)) MB/s = \(String(format: "%.0f", share))% of the disk baseline")
        say("  batch latency ms: p50 \(fmt(ingest.p50Ms)) p99 \(fmt(ingest.p99Ms)) max \(fmt(ingest.maxMs)) (\(ingest.batches) batches of up to \(batchSize))")

        if json {
            print("{\"accounts\":\(accounts),\"transfers\":\(transfers),\"batch_size\":\(batchSize),\"distribution\":\"\(distribution)\","
                + "\"applier_transfers_per_s\":\(applier.rate),\"applier_transfers_per_s_min\":\(applierRuns.first!.rate),\"applier_transfers_per_s_max\":\(applierRuns.last!.rate),\"ingest_transfers_per_s\":\(ingest.rate),"
                + "\"ingest_batch_latency_ms_p50\":\(fmt(ingest.p50Ms)),\"ingest_batch_latency_ms_p99\":\(fmt(ingest.p99Ms)),"
                + "\"ingest_batch_latency_ms_max\":\(fmt(ingest.maxMs)),\"ingest_mb_per_s\":\(String(format: "%.1f", ingestMBps)),"
                + "\"crc32c_gb_per_s\":\(String(format: "%.2f", checksums.crcGBps)),\"sha256_gb_per_s\":\(String(format: "%.2f", checksums.shaGBps)),"
                + "\"disk_baseline_mb_per_s\":\(String(format: "%.1f", baselineMBps)),\"ingest_share_of_disk_baseline_pct\":\(String(format: "%.1f", share))}")
        }
    }

    func fmt(_ value: Double) -> String { String(format: "%.2f", value) }

    /// CRC32C (every batch body and header) and SHA-256 (the hash chain), over 256 MiB each.
    private func measureChecksums() -> (crcGBps: Double, shaGBps: Double) {
        let block = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 64)
        defer { block.deallocate() }
        var random = SplitMix64(seed: 11)
        for index in stride(from: 0, to: block.count, by: 8) { block.storeBytes(of: random.next(), toByteOffset: index, as: UInt64.self) }
        let rounds = 256
        var crc: UInt32 = 0
        var startNs = monotonicNowNs()
        for _ in 0..<rounds { crc = Checksum.crc32c(UnsafeRawBufferPointer(block), continuing: crc) }
        let crcNs = monotonicNowNs() - startNs
        var hash = Hash256.zero
        startNs = monotonicNowNs()
        for _ in 0..<rounds { hash = Hash256(sha256Of: UnsafeRawBufferPointer(block)) }
        let shaNs = monotonicNowNs() - startNs
        precondition(crc != 0 || hash != .zero)
        let bytes = Double(rounds << 20)
        return (bytes / Double(crcNs), bytes / Double(shaNs))
    }

    /// The applier alone: accounts created first (not timed), then every transfer batch, timed.
    private func measureApplier(_ accountRecords: [Account], _ transferRecords: [Transfer]) -> (rate: Int, elapsedNs: UInt64, okCount: Int) {
        let ledger = Ledger(hashSeed: 1, accountsCapacity: accountRecords.count, transfersCapacity: transferRecords.count)
        let results = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: Limits.batchRecordsMax)
        defer { results.deallocate() }
        var timestampNs: UInt64 = 1
        accountRecords.withUnsafeBufferPointer { all in
            var start = 0
            while start < all.count {
                let end = min(start + Limits.batchRecordsMax, all.count)
                ledger.createAccounts(UnsafeBufferPointer(rebasing: all[start..<end]), timestampNs: timestampNs, results: results)
                timestampNs += UInt64(end - start)
                start = end
            }
        }
        var okCount = 0
        let startNs = monotonicNowNs()
        transferRecords.withUnsafeBufferPointer { all in
            var start = 0
            while start < all.count {
                let end = min(start + batchSize, all.count)
                ledger.createTransfers(UnsafeBufferPointer(rebasing: all[start..<end]), timestampNs: timestampNs, results: results)
                for index in 0..<(end - start) where results[index] == 0 { okCount += 1 }
                timestampNs += UInt64(end - start)
                start = end
            }
        }
        let elapsedNs = monotonicNowNs() - startNs
        return (formatRate(transferRecords.count, elapsedNs: elapsedNs), elapsedNs, okCount)
    }

    /// Sequential 1 MiB writes to a new file, each followed by fdatasync: what the disk gives a
    /// careful writer. Returns MB/s (10^6 bytes).
    func measureDiskBaseline(path: String) throws -> Double {
        let blockBytes = 1 << 20
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw UserError("\(path): cannot create (errno \(errno))") }
        defer {
            close(fd)
            unlink(path)
        }
        let block = UnsafeMutableRawBufferPointer.allocate(byteCount: blockBytes, alignment: 4096)
        defer { block.deallocate() }
        var random = SplitMix64(seed: 7)
        for index in stride(from: 0, to: blockBytes, by: 8) { block.storeBytes(of: random.next(), toByteOffset: index, as: UInt64.self) }
        let startNs = monotonicNowNs()
        for _ in 0..<baselineMib {
            var done = 0
            while done < blockBytes {
                let written = write(fd, block.baseAddress! + done, blockBytes - done)
                guard written > 0 else { throw UserError("\(path): write failed (errno \(errno))") }
                done += written
            }
            guard fdatasync(fd) == 0 else { throw UserError("\(path): fdatasync failed (errno \(errno))") }
        }
        let elapsedNs = monotonicNowNs() - startNs
        return Double(baselineMib * blockBytes) / (Double(elapsedNs) / 1e9) / 1e6
    }

    private struct IngestFigures {
        var rate: Int
        var elapsedNs: UInt64
        var bytes: Int
        var batches: Int
        var p50Ms: Double
        var p99Ms: Double
        var maxMs: Double
    }

    /// The real single-node path on a fresh data directory: accounts first (not timed), then the
    /// transfers in batches of `batchSize`, durable when the call returns.
    private func measureIngest(_ accountRecords: [Account], _ transferRecords: [Transfer], dataPath: String) throws -> IngestFigures {
        _ = try DataDirectory.format(path: dataPath, clusterId: 1)
        let node = try LocalNode(path: dataPath, accountsCapacity: accountRecords.count, transfersCapacity: transferRecords.count)
        _ = try accountRecords.withUnsafeBytes { bytes in
            try node.ingest([Submission(kind: .accounts, records: bytes)], recordDigest: false)
        }
        let report: IngestReport = try transferRecords.withUnsafeBytes { bytes in
            var submissions: [Submission] = []
            var start = 0
            let step = batchSize * Limits.recordSizeBytes
            while start < bytes.count {
                let end = min(start + step, bytes.count)
                submissions.append(Submission(kind: .transfers, records: UnsafeRawBufferPointer(rebasing: bytes[start..<end])))
                start = end
            }
            return try node.ingest(submissions, recordDigest: false)
        }
        var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
        for latencyNs in report.batchLatenciesNs { _ = histogram.record(max(latencyNs / 1000, 1)) }
        return IngestFigures(
            rate: formatRate(report.transfersCount, elapsedNs: report.elapsedNs), elapsedNs: report.elapsedNs,
            bytes: report.bytesWritten, batches: report.batchesCount,
            p50Ms: Double(histogram.valueAtPercentile(50)) / 1000, p99Ms: Double(histogram.valueAtPercentile(99)) / 1000,
            maxMs: Double(histogram.max) / 1000)
    }
}
