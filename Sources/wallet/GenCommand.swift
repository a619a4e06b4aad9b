// `wallet gen`: write a synthetic workload as batch files or CSV.
import ArgumentParser
import Foundation
import LedgerCore
import Workload

struct GenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "gen", abstract: "Generate accounts and transfers into files.")

    @Option(help: "Number of accounts (account 1 funds the others).") var accounts: Int
    @Option(help: "Number of transfers (the first accounts-1 fund each wallet).") var transfers: Int
    @Option(help: "How transfers pick accounts: uniform or zipf.") var distribution: String = "uniform"
    @Option(help: "Fraction of transfers resent unchanged (answered 'exists').") var duplicates: Double = 0
    @Option(help: "Fraction of transfers that are invalid.") var invalid: Double = 0
    @Option(help: "Random seed.") var seed: UInt64 = 0
    @Option(help: "Records per batch in batch files (batch_records_max is \(Limits.batchRecordsMax)).") var batchSize: Int = Limits.batchRecordsMax
    @Option(help: "Transfers per output file.") var transfersPerFile: Int = 1_048_576
    @Flag(help: "Write CSV instead of binary batch files.") var csv = false
    @Option(help: "Output directory (created if absent; refused if it holds files, unless --force).") var out: String
    @Flag(help: "Write into an output directory that already holds files (files of the same names are replaced).") var force = false

    func run() throws {
        try reportingErrors {
            guard let parsedDistribution = Distribution(rawValue: distribution) else {
                throw UserError("--distribution '\(distribution)' is not one of uniform, zipf")
            }
            guard accounts >= 2 else { throw UserError("--accounts must be at least 2 (the funding account and one wallet)") }
            guard transfers >= 0 else { throw UserError("--transfers must not be negative") }
            guard duplicates >= 0, invalid >= 0, duplicates + invalid <= 1 else {
                throw UserError("--duplicates and --invalid are fractions whose sum is at most 1")
            }
            guard batchSize >= 1 && batchSize <= Limits.batchRecordsMax else {
                throw UserError("--batch-size \(batchSize) is outside 1...\(Limits.batchRecordsMax) (batch_records_max)")
            }
            guard transfersPerFile >= 1 else { throw UserError("--transfers-per-file must be positive") }
            var spec = WorkloadSpec(accounts: accounts, transfers: transfers)
            spec.distribution = parsedDistribution
            spec.duplicateFraction = duplicates
            spec.invalidFraction = invalid
            spec.seed = seed
            let workload = Workload(spec: spec)
            if !force, let existing = try? FileManager.default.contentsOfDirectory(atPath: out), !existing.isEmpty {
                throw UserError("--out \(out) already holds \(counted(existing.count, "file")) (\(existing.sorted().prefix(3).joined(separator: ", "))): give an empty or new directory, or --force to replace files of the same names")
            }
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            let accountRecords = workload.accounts()
            let transferRecords = workload.transfers()
            var written: [String] = []
            let accountsPath = out + (csv ? "/accounts.csv" : "/accounts.wbatch")
            try write(csv ? Array(CSVWriter.accounts(accountRecords).utf8) : BatchFile.encode(accounts: accountRecords, batchSize: batchSize), to: accountsPath)
            written.append(accountsPath)
            var start = 0
            var fileNumber = 1
            while start < transferRecords.count {
                let end = min(start + transfersPerFile, transferRecords.count)
                let slice = Array(transferRecords[start..<end])
                let name = String(format: "/transfers-%06d.", fileNumber) + (csv ? "csv" : "wbatch")
                try write(csv ? Array(CSVWriter.transfers(slice).utf8) : BatchFile.encode(transfers: slice, batchSize: batchSize), to: out + name)
                written.append(out + name)
                start = end
                fileNumber += 1
            }
            print("wrote \(formatCount(accounts)) accounts and \(formatCount(transfers)) transfers (\(distribution), seed \(seed)) to \(written.count) files in \(out)")
        }
    }

    private func write(_ bytes: [UInt8], to path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else {
            throw UserError("\(path): cannot write")
        }
    }
}
