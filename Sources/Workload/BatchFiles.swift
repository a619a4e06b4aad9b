// Batch files (client input): sealed batches one after another, in the log's batch format.
import LedgerCore

/// An input file that is not a valid batch file, with the byte offset of the bad batch.
public struct BatchFileError: Error, CustomStringConvertible, Equatable {
    public let offset: Int
    public let message: String
    public var description: String { "offset \(offset): \(message)" }
}

public enum BatchFile {
    /// Encodes records as consecutive batches of at most `batchSize` records (op 1, 2, ... within the
    /// file; no cluster, term or timestamp: the log assigns those when the batches are ingested).
    public static func encode(transfers: [Transfer], batchSize: Int = Limits.batchRecordsMax) -> [UInt8] {
        encode(kind: .transfers, count: transfers.count, batchSize: batchSize) { buffer, index in buffer.append(transfers[index]) }
    }

    public static func encode(accounts: [Account], batchSize: Int = Limits.batchRecordsMax) -> [UInt8] {
        encode(kind: .accounts, count: accounts.count, batchSize: batchSize) { buffer, index in buffer.append(accounts[index]) }
    }

    private static func encode(kind: RecordKind, count: Int, batchSize: Int, append: (BatchBuffer, Int) -> Void) -> [UInt8] {
        precondition(batchSize >= 1 && batchSize <= Limits.batchRecordsMax)
        var output: [UInt8] = []
        output.reserveCapacity(count * Limits.recordSizeBytes + (count / batchSize + 1) * Limits.batchHeaderSizeBytes)
        let buffer = BatchBuffer(recordKind: kind)
        var op: UInt64 = 0
        var index = 0
        while index < count {
            buffer.reset(recordKind: kind)
            let end = min(count, index + batchSize)
            while index < end {
                append(buffer, index)
                index += 1
            }
            op += 1
            output.append(contentsOf: buffer.seal(op: op).bytes)
        }
        return output
    }

    /// Checks every batch of a file and returns their byte ranges. Any damage is an error naming the
    /// offset of the batch it is in; nothing of a damaged file is returned.
    public static func validate(_ bytesUntrusted: UnsafeRawBufferPointer) -> Result<[Range<Int>], BatchFileError> {
        var ranges: [Range<Int>] = []
        var offset = 0
        if bytesUntrusted.isEmpty { return .failure(BatchFileError(offset: 0, message: "empty batch file")) }
        while offset < bytesUntrusted.count {
            let remaining = UnsafeRawBufferPointer(rebasing: bytesUntrusted[offset...])
            switch BatchHeader.validateBatch(remaining) {
            case .failure(let error):
                return .failure(BatchFileError(offset: offset, message: error.description))
            case .success(let header):
                guard header.recordKind != .noop else {
                    return .failure(BatchFileError(offset: offset, message: "record kind noop is not client input"))
                }
                if let first = ranges.first {
                    let firstKind = bytesUntrusted.loadUnaligned(fromByteOffset: first.lowerBound + 10, as: UInt16.self)
                    guard firstKind == header.recordKindRaw else {
                        return .failure(BatchFileError(offset: offset, message: "record kind changes within the file"))
                    }
                }
                ranges.append(offset..<(offset + header.batchSizeBytes))
                offset += header.batchSizeBytes
            }
        }
        return .success(ranges)
    }

    /// Whether the bytes start like a batch file (the batch magic at offset 4).
    public static func looksLikeBatchFile(_ bytes: UnsafeRawBufferPointer) -> Bool {
        bytes.count >= 8 && bytes.loadUnaligned(fromByteOffset: 4, as: UInt32.self) == BatchHeader.magicValue
    }
}

/// CSV writers for generated workloads and the sample data.
public enum CSVWriter {
    public static func accounts(_ accounts: [Account]) -> String {
        var lines = [CSVRecords.accountColumns.joined(separator: ",") + ",flags"]
        for account in accounts {
            let flags = account.flags.contains(.debitsMustNotExceedCredits) ? "debits_must_not_exceed_credits"
                : account.flags.contains(.creditsMustNotExceedDebits) ? "credits_must_not_exceed_debits" : ""
            lines.append("\(account.id),\(CurrencyCode.format(account.ledger)),\(flags)")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    public static func transfers(_ transfers: [Transfer]) -> String {
        var lines = [CSVRecords.transferColumns.joined(separator: ",")]
        lines.reserveCapacity(transfers.count + 1)
        for transfer in transfers {
            precondition(transfer.flags.isEmpty, "the basic CSV columns carry plain transfers only")
            lines.append("\(transfer.id),\(transfer.debitAccountId),\(transfer.creditAccountId),\(transfer.amount),\(CurrencyCode.format(transfer.ledger))")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
