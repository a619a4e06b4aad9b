// Batches for the storage tests: 2,000 transfers each (about 256 KB, a few per minimum-size segment).
import LedgerCore
@testable import Storage

extension SegmentLog {
    /// Appends and syncs `count` batches of 2,000 transfers; `term(position)` gives each batch's term.
    func appendTestBatches(count: Int, term: (Int) -> UInt64 = { _ in 1 }) throws {
        let buffer = BatchBuffer(recordKind: .transfers)
        for position in 0..<count {
            buffer.reset(recordKind: .transfers)
            for index in 0..<2000 {
                let id = UInt128(lastOp + 1) << 32 | UInt128(index + 1)
                buffer.append(Transfer(id: id, debitAccountId: 1 + UInt128(index % 7), creditAccountId: 9, amount: UInt128(index), ledger: 1))
            }
            try append(buffer.seal(clusterId: clusterId, term: term(position), op: lastOp + 1, timestampNs: lastRecordTimestampNs + 1,
                                   previousHeaderHash: lastHeaderHash, durableOp: durableOp))
            try sync()
        }
    }
}
