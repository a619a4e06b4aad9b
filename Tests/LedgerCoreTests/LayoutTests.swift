// The fixed layouts of docs/FORMAT.md: sizes, offsets, and every field's bytes round-tripped.
@testable import LedgerCore
import XCTest

final class LayoutTests: XCTestCase {
    func testRecordAndHeaderSizes() {
        XCTAssertEqual(MemoryLayout<Transfer>.size, 128)
        XCTAssertEqual(MemoryLayout<Transfer>.stride, 128)
        XCTAssertEqual(MemoryLayout<Transfer>.alignment, 16)
        XCTAssertEqual(MemoryLayout<Account>.size, 128)
        XCTAssertEqual(MemoryLayout<Account>.stride, 128)
        XCTAssertEqual(MemoryLayout<BatchHeader>.size, 128)
        XCTAssertEqual(MemoryLayout<BatchHeader>.stride, 128)
        XCTAssertEqual(MemoryLayout<Hash256>.size, 32)
        XCTAssertEqual(MemoryLayout<BalanceRow>.stride, 64)
        XCTAssertEqual(MemoryLayout<AccountRules>.stride, 8)
        XCTAssertEqual(MemoryLayout<AccountCold>.stride, 32)
        XCTAssertEqual(MemoryLayout<IdIndexSlot>.stride, 32)
        XCTAssertEqual(MemoryLayout<FingerprintSlot>.stride, 16)
    }

    func testTransferOffsets() {
        let offsets: [(PartialKeyPath<Transfer>, Int)] = [
            (\Transfer.id, 0), (\Transfer.debitAccountId, 16), (\Transfer.creditAccountId, 32), (\Transfer.amount, 48),
            (\Transfer.pendingId, 64), (\Transfer.userData128, 80), (\Transfer.userData64, 96), (\Transfer.ledger, 104),
            (\Transfer.code, 108), (\Transfer.flags, 110), (\Transfer.timestamp, 112), (\Transfer.reserved, 120),
        ]
        for (path, offset) in offsets { XCTAssertEqual(MemoryLayout<Transfer>.offset(of: path), offset, "\(path)") }
    }

    func testAccountOffsets() {
        let offsets: [(PartialKeyPath<Account>, Int)] = [
            (\Account.id, 0), (\Account.debitsPending, 16), (\Account.debitsPosted, 32), (\Account.creditsPending, 48),
            (\Account.creditsPosted, 64), (\Account.userData128, 80), (\Account.userData64, 96), (\Account.ledger, 104),
            (\Account.code, 108), (\Account.flags, 110), (\Account.timestamp, 112), (\Account.reserved, 120),
        ]
        for (path, offset) in offsets { XCTAssertEqual(MemoryLayout<Account>.offset(of: path), offset, "\(path)") }
    }

    func testBatchHeaderOffsets() {
        let offsets: [(PartialKeyPath<BatchHeader>, Int)] = [
            (\BatchHeader.headerChecksum, 0), (\BatchHeader.magic, 4), (\BatchHeader.formatVersion, 8),
            (\BatchHeader.recordKindRaw, 10), (\BatchHeader.recordCount, 12), (\BatchHeader.clusterId, 16),
            (\BatchHeader.term, 32), (\BatchHeader.op, 40), (\BatchHeader.timestampNs, 48), (\BatchHeader.bodySizeBytes, 56),
            (\BatchHeader.bodyChecksum, 60), (\BatchHeader.previousHeaderHash, 64), (\BatchHeader.rulesVersion, 96),
            (\BatchHeader.reserved0, 100), (\BatchHeader.durableOp, 104), (\BatchHeader.reserved2, 112), (\BatchHeader.reserved3, 120),
        ]
        for (path, offset) in offsets { XCTAssertEqual(MemoryLayout<BatchHeader>.offset(of: path), offset, "\(path)") }
    }

    /// Little-endian bytes of `value` at `offset` in `bytes`.
    private func read<T: FixedWidthInteger>(_ bytes: [UInt8], _ offset: Int, as: T.Type) -> T {
        var value: T = 0
        for index in 0..<MemoryLayout<T>.size { value |= T(bytes[offset + index]) << (8 * index) }
        return value
    }

    func testTransferFieldsRoundTripThroughLittleEndianBytes() {
        var transfer = Transfer(
            id: 0x0102_0304_0506_0708_090A_0B0C_0D0E_0F10, debitAccountId: 0x1111_2222_3333_4444_5555_6666_7777_8888,
            creditAccountId: UInt128.max - 5, amount: 123_456_789_012_345_678_901_234_567_890, ledger: 0xDEAD_BEEF,
            code: 0xABCD, flags: [.pending], pendingId: 77, userData128: 0xFEED_0000_0000_0000_0000_0000_0000_BEEF,
            userData64: 0x0123_4567_89AB_CDEF, timestamp: 0x1122_3344_5566_7788)
        transfer.reserved = 0
        let bytes = withUnsafeBytes(of: transfer) { Array($0) }
        XCTAssertEqual(read(bytes, 0, as: UInt128.self), transfer.id)
        XCTAssertEqual(read(bytes, 16, as: UInt128.self), transfer.debitAccountId)
        XCTAssertEqual(read(bytes, 32, as: UInt128.self), transfer.creditAccountId)
        XCTAssertEqual(read(bytes, 48, as: UInt128.self), transfer.amount)
        XCTAssertEqual(read(bytes, 64, as: UInt128.self), transfer.pendingId)
        XCTAssertEqual(read(bytes, 80, as: UInt128.self), transfer.userData128)
        XCTAssertEqual(read(bytes, 96, as: UInt64.self), transfer.userData64)
        XCTAssertEqual(read(bytes, 104, as: UInt32.self), transfer.ledger)
        XCTAssertEqual(read(bytes, 108, as: UInt16.self), transfer.code)
        XCTAssertEqual(read(bytes, 110, as: UInt16.self), transfer.flags.rawValue)
        XCTAssertEqual(read(bytes, 112, as: UInt64.self), transfer.timestamp)
        XCTAssertEqual(read(bytes, 120, as: UInt64.self), 0)
        let back = bytes.withUnsafeBytes { $0.loadUnaligned(as: Transfer.self) }
        XCTAssertEqual(back, transfer)
    }

    func testAccountFieldsRoundTripThroughLittleEndianBytes() {
        var account = Account(id: 42, ledger: 978, code: 9, flags: [.creditsMustNotExceedDebits], userData128: 5, userData64: 6)
        account.debitsPending = 1
        account.debitsPosted = 2
        account.creditsPending = 3
        account.creditsPosted = UInt128.max
        account.timestamp = 99
        let bytes = withUnsafeBytes(of: account) { Array($0) }
        XCTAssertEqual(read(bytes, 0, as: UInt128.self), 42)
        XCTAssertEqual(read(bytes, 16, as: UInt128.self), 1)
        XCTAssertEqual(read(bytes, 32, as: UInt128.self), 2)
        XCTAssertEqual(read(bytes, 48, as: UInt128.self), 3)
        XCTAssertEqual(read(bytes, 64, as: UInt128.self), UInt128.max)
        XCTAssertEqual(read(bytes, 80, as: UInt128.self), 5)
        XCTAssertEqual(read(bytes, 96, as: UInt64.self), 6)
        XCTAssertEqual(read(bytes, 104, as: UInt32.self), 978)
        XCTAssertEqual(read(bytes, 108, as: UInt16.self), 9)
        XCTAssertEqual(read(bytes, 110, as: UInt16.self), 2)
        XCTAssertEqual(read(bytes, 112, as: UInt64.self), 99)
        XCTAssertEqual(bytes.withUnsafeBytes { $0.loadUnaligned(as: Account.self) }, account)
    }

    func testBatchHeaderFieldsRoundTrip() {
        let buffer = BatchBuffer(recordKind: .transfers)
        buffer.append(Transfer(id: 1, debitAccountId: 2, creditAccountId: 3, amount: 4, ledger: 5))
        let previous = Hash256(word0: 1, word1: 2, word2: 3, word3: 4)
        let view = buffer.seal(clusterId: 0xC1, term: 7, op: 9, timestampNs: 0x1234_5678_9ABC, previousHeaderHash: previous, rulesVersion: 3, durableOp: 6)
        let bytes = Array(view.bytes[0..<128])
        XCTAssertEqual(read(bytes, 4, as: UInt32.self), BatchHeader.magicValue)
        XCTAssertEqual(Array(bytes[4..<8]), Array("WLB1".utf8))
        XCTAssertEqual(read(bytes, 8, as: UInt16.self), 1)
        XCTAssertEqual(read(bytes, 10, as: UInt16.self), RecordKind.transfers.rawValue)
        XCTAssertEqual(read(bytes, 12, as: UInt32.self), 1)
        XCTAssertEqual(read(bytes, 16, as: UInt128.self), 0xC1)
        XCTAssertEqual(read(bytes, 32, as: UInt64.self), 7)
        XCTAssertEqual(read(bytes, 40, as: UInt64.self), 9)
        XCTAssertEqual(read(bytes, 48, as: UInt64.self), 0x1234_5678_9ABC)
        XCTAssertEqual(read(bytes, 56, as: UInt32.self), 128)
        XCTAssertEqual(read(bytes, 60, as: UInt32.self), Checksum.crc32c(view.body))
        XCTAssertEqual(read(bytes, 64, as: UInt64.self), 1)
        XCTAssertEqual(read(bytes, 88, as: UInt64.self), 4)
        XCTAssertEqual(read(bytes, 96, as: UInt32.self), 3)
        XCTAssertEqual(Array(bytes[100..<104]), [0, 0, 0, 0])
        XCTAssertEqual(read(bytes, 104, as: UInt64.self), 6)
        XCTAssertEqual(Array(bytes[112..<128]), [UInt8](repeating: 0, count: 16))
        let checksum = bytes.withUnsafeBytes { Checksum.crc32c(UnsafeRawBufferPointer(rebasing: $0[4..<128])) }
        XCTAssertEqual(read(bytes, 0, as: UInt32.self), checksum)
        let decoded = bytes.withUnsafeBytes { $0.loadUnaligned(as: BatchHeader.self) }
        XCTAssertEqual(decoded, view.header)
    }

    func testLimitsRelations() {
        Limits.checkRelations()
        XCTAssertEqual(Limits.batchHeaderSizeBytes + Limits.batchRecordsMax * Limits.recordSizeBytes, Limits.batchSizeBytesMax)
    }
}
