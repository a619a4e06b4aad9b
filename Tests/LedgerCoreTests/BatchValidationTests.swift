// Every way bytes can fail to be a batch is reported as its own error.
import LedgerCore
import XCTest

final class BatchValidationTests: XCTestCase {
    private func sealedBatch(records: Int = 3) -> [UInt8] {
        let buffer = BatchBuffer(recordKind: .transfers)
        for index in 0..<records {
            buffer.append(Transfer(id: UInt128(index + 1), debitAccountId: 1, creditAccountId: 2, amount: 10, ledger: 1))
        }
        return Array(buffer.seal(op: 1, timestampNs: 5).bytes)
    }

    private func validate(_ bytes: [UInt8]) -> Result<BatchHeader, BatchFormatError> {
        bytes.withUnsafeBytes { BatchHeader.validateBatch($0) }
    }

    /// Rewrites a header field, then reseals the header checksum (so only the field is wrong).
    private func withHeader(_ bytes: [UInt8], _ change: (inout BatchHeader) -> Void) -> [UInt8] {
        var copy = bytes
        var header = copy.withUnsafeBytes { $0.loadUnaligned(as: BatchHeader.self) }
        change(&header)
        header.headerChecksum = header.computeHeaderChecksum()
        withUnsafeBytes(of: header) { copy.replaceSubrange(0..<128, with: $0) }
        return copy
    }

    func testValidBatch() throws {
        let header = try validate(sealedBatch()).get()
        XCTAssertEqual(header.recordCount, 3)
        XCTAssertEqual(header.recordKind, .transfers)
    }

    func testTruncatedHeader() {
        XCTAssertEqual(validate(Array(sealedBatch()[0..<100])), .failure(.truncatedHeader(availableBytes: 100)))
    }

    func testBadMagic() {
        var bytes = sealedBatch()
        bytes[4] ^= 0xFF
        guard case .failure(.badMagic) = validate(bytes) else { return XCTFail() }
    }

    func testEveryHeaderByteIsCovered() {
        let good = sealedBatch()
        for offset in 0..<128 where !(4..<8).contains(offset) {
            var bytes = good
            bytes[offset] ^= 0x01
            guard case .failure = validate(bytes) else { return XCTFail("flip at header byte \(offset) not detected") }
        }
    }

    func testEveryBodyByteIsCovered() {
        let good = sealedBatch()
        for offset in 128..<good.count {
            var bytes = good
            bytes[offset] ^= 0x80
            guard case .failure(.badBodyChecksum) = validate(bytes) else { return XCTFail("flip at body byte \(offset) not detected") }
        }
    }

    func testUnsupportedVersion() {
        let bytes = withHeader(sealedBatch()) { $0.formatVersion = 2 }
        XCTAssertEqual(validate(bytes), .failure(.unsupportedFormatVersion(2)))
    }

    func testUnknownRecordKind() {
        let bytes = withHeader(sealedBatch()) { $0.recordKindRaw = 9 }
        XCTAssertEqual(validate(bytes), .failure(.unknownRecordKind(9)))
    }

    func testOversizeBatch() {
        let bytes = withHeader(sealedBatch()) {
            $0.recordCount = UInt32(Limits.batchRecordsMax + 1)
            $0.bodySizeBytes = $0.recordCount * 128
        }
        XCTAssertEqual(validate(bytes), .failure(.tooManyRecords(count: UInt32(Limits.batchRecordsMax + 1))))
    }

    func testBodySizeMismatch() {
        let bytes = withHeader(sealedBatch()) { $0.bodySizeBytes = 100 }
        XCTAssertEqual(validate(bytes), .failure(.bodySizeMismatch(bodySizeBytes: 100, recordCount: 3)))
    }

    func testReservedMustBeZero() {
        let bytes = withHeader(sealedBatch()) { $0.reserved2 = 1 }
        XCTAssertEqual(validate(bytes), .failure(.reservedNotZero))
    }

    func testTruncatedBody() {
        let bytes = Array(sealedBatch()[0..<300])
        XCTAssertEqual(validate(bytes), .failure(.truncatedBody(expectedBytes: 128 + 3 * 128, availableBytes: 300)))
    }

    func testLargestBatchFitsTheLimit() {
        let buffer = BatchBuffer(recordKind: .accounts)
        for index in 0..<Limits.batchRecordsMax { buffer.append(Account(id: UInt128(index + 1), ledger: 1)) }
        XCTAssertTrue(buffer.isFull)
        let view = buffer.seal(op: 1, timestampNs: 1)
        XCTAssertEqual(view.bytes.count, Limits.batchSizeBytesMax)
        XCTAssertNoThrow(try BatchHeader.validateBatch(view.bytes).get())
    }
}
