// CRC32C against its published check value and the portable implementation; the genesis hash.
import LedgerCore
import XCTest

final class ChecksumTests: XCTestCase {
    func testCRC32CCheckValue() {
        let bytes = Array("123456789".utf8)
        bytes.withUnsafeBytes { raw in
            XCTAssertEqual(Checksum.crc32c(raw), 0xE306_9283)
            XCTAssertEqual(Checksum.crc32cPortable(raw), 0xE306_9283)
        }
    }

    func testHardwareMatchesPortableAtEveryLengthAndAlignment() {
        var state: UInt64 = 1
        let bytes: [UInt8] = (0..<600).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1
            return UInt8(truncatingIfNeeded: state >> 33)
        }
        bytes.withUnsafeBytes { raw in
            for start in 0..<9 {
                for length in stride(from: 0, through: 590, by: 7) {
                    let slice = UnsafeRawBufferPointer(rebasing: raw[start..<(start + length)])
                    XCTAssertEqual(Checksum.crc32c(slice), Checksum.crc32cPortable(slice))
                }
            }
        }
    }

    func testCRC32CContinues() {
        let bytes = Array("hello, ledger".utf8)
        bytes.withUnsafeBytes { raw in
            let whole = Checksum.crc32c(raw)
            let first = Checksum.crc32c(UnsafeRawBufferPointer(rebasing: raw[0..<5]))
            XCTAssertEqual(Checksum.crc32c(UnsafeRawBufferPointer(rebasing: raw[5...]), continuing: first), whole)
        }
    }

    func testSHA256KnownValueAndGenesis() {
        let abc = Array("abc".utf8).withUnsafeBytes { Hash256(sha256Of: $0) }
        XCTAssertEqual(abc.description, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(Hash256.genesis(clusterId: 1), Hash256.genesis(clusterId: 1))
        XCTAssertNotEqual(Hash256.genesis(clusterId: 1), Hash256.genesis(clusterId: 2))
    }
}
