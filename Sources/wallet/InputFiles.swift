// Reading ingest input: binary batch files and CSV files, all checked before anything is ingested.
import Foundation
import LedgerCore
import Replica
import Storage
import Workload

/// Input files, fully validated, holding their records until the ingest is over.
final class InputFiles {
    private var mappedFiles: [MappedFile] = []
    /// Records parsed from CSV, in buffers this object owns (aligned for in-place reading).
    private var ownedBuffers: [UnsafeMutableRawBufferPointer] = []
    private(set) var submissions: [Submission] = []
    /// Where each submission's records came from, in the same order.
    private(set) var sources: [RecordSource] = []
    private(set) var transfersCount = 0
    private(set) var accountsCount = 0

    /// Reads and checks every file; the first problem throws an error naming the file and the line
    /// or byte offset, before any record is ingested.
    init(paths: [String]) throws {
        for path in paths {
            let file: MappedFile
            if let attributes = try? FileManager.default.attributesOfItem(atPath: path), (attributes[.size] as? Int) == 0 {
                throw UserError("\(path): the file is empty (expected a CSV file with its header row, or a batch file)")
            }
            do {
                file = try MappedFile(path: path, writable: false)
            } catch let error as IOError {
                throw UserError("\(path): cannot read: \(error)")
            }
            mappedFiles.append(file)
            if BatchFile.looksLikeBatchFile(file.bytes) {
                try addBatchFile(file)
            } else {
                try addCSV(file)
            }
        }
    }

    deinit {
        for buffer in ownedBuffers { buffer.deallocate() }
    }

    private func own<T>(_ records: [T], kind: RecordKind, source: RecordSource) {
        guard !records.isEmpty else { return }
        sources.append(source)
        let byteCount = records.count * MemoryLayout<T>.stride
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: byteCount, alignment: 16)
        records.withUnsafeBytes { buffer.copyMemory(from: $0) }
        ownedBuffers.append(buffer)
        submissions.append(Submission(kind: kind, records: UnsafeRawBufferPointer(buffer)))
    }

    private func addBatchFile(_ file: MappedFile) throws {
        switch BatchFile.validate(file.bytes) {
        case .failure(let error):
            throw UserError("\(file.path): \(error)")
        case .success(let ranges):
            for (ordinal, range) in ranges.enumerated() {
                let batch = BatchView(validatedBytes: UnsafeRawBufferPointer(rebasing: file.bytes[range]))
                guard batch.recordCount > 0 else { continue }
                submissions.append(Submission(kind: batch.recordKind, records: batch.body))
                sources.append(RecordSource(path: file.path, lines: nil, batch: ordinal + 1))
                if batch.recordKind == .transfers { transfersCount += batch.recordCount } else { accountsCount += batch.recordCount }
            }
        }
    }

    private func addCSV(_ file: MappedFile) throws {
        var lines: [Int] = []
        switch CSVRecords.parse(file.bytes, lineNumbers: &lines) {
        case .failure(let error):
            throw UserError("\(file.path): \(error)")
        case .success(.accounts(let accounts)):
            own(accounts, kind: .accounts, source: RecordSource(path: file.path, lines: lines, batch: nil))
            accountsCount += accounts.count
        case .success(.transfers(let transfers)):
            own(transfers, kind: .transfers, source: RecordSource(path: file.path, lines: lines, batch: nil))
            transfersCount += transfers.count
        }
    }

    /// Where record number `index` of the whole input (all submissions, in order) came from,
    /// and its id; nil past the end. A binary search over the submissions' first indexes.
    func locate(_ index: Int) -> RecordPlace? {
        if firstIndexes.count != submissions.count {
            var first = 0
            firstIndexes = submissions.map { submission in
                defer { first += submission.records.count / Limits.recordSizeBytes }
                return first
            }
        }
        guard index >= 0, let last = submissions.last, index < (firstIndexes.last ?? 0) + last.records.count / Limits.recordSizeBytes else { return nil }
        var low = 0
        var high = submissions.count - 1
        while low < high {
            let middle = (low + high + 1) / 2
            if firstIndexes[middle] <= index { low = middle } else { high = middle - 1 }
        }
        let within = index - firstIndexes[low]
        let source = sources[low]
        // Every record kind starts with its 128-bit id.
        let id = submissions[low].records.loadUnaligned(fromByteOffset: within * Limits.recordSizeBytes, as: UInt128.self)
        return RecordPlace(file: source.path, line: source.lines?[within], batch: source.batch, record: within, id: id)
    }

    private var firstIndexes: [Int] = []
}

/// One record's place in the input: a CSV file's line, or a batch file's batch and record.
struct RecordPlace {
    let file: String
    let line: Int?
    let batch: Int?
    let record: Int
    let id: UInt128

    var description: String { line.map { "\(file) line \($0)" } ?? "\(file) batch \(batch ?? 0) record \(record)" }
}

/// Where a submission's records came from: a CSV file's lines, or a batch of a batch file (1-based).
struct RecordSource {
    let path: String
    let lines: [Int]?
    let batch: Int?
}
