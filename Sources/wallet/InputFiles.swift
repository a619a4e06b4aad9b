// Reading ingest input: binary batch files and CSV files, all checked before anything is ingested.
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
    private(set) var transfersCount = 0
    private(set) var accountsCount = 0

    /// Reads and checks every file; the first problem throws an error naming the file and the line
    /// or byte offset, before any record is ingested.
    init(paths: [String]) throws {
        for path in paths {
            let file: MappedFile
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

    private func own<T>(_ records: [T], kind: RecordKind) {
        guard !records.isEmpty else { return }
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
            for range in ranges {
                let batch = BatchView(validatedBytes: UnsafeRawBufferPointer(rebasing: file.bytes[range]))
                guard batch.recordCount > 0 else { continue }
                submissions.append(Submission(kind: batch.recordKind, records: batch.body))
                if batch.recordKind == .transfers { transfersCount += batch.recordCount } else { accountsCount += batch.recordCount }
            }
        }
    }

    private func addCSV(_ file: MappedFile) throws {
        switch CSVRecords.parse(file.bytes) {
        case .failure(let error):
            throw UserError("\(file.path): \(error)")
        case .success(.accounts(let accounts)):
            own(accounts, kind: .accounts)
            accountsCount += accounts.count
        case .success(.transfers(let transfers)):
            own(transfers, kind: .transfers)
            transfersCount += transfers.count
        }
    }
}
