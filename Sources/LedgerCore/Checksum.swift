// The integrity checksum (CRC32C, hardware) and the hash chain's SHA-256.
import CSupport
import Crypto

/// CRC32C (Castagnoli): catches torn writes and bit rot in headers and bodies.
///
/// Not a defence against a deliberate forger: that is the job of the SHA-256 hash chain over headers.
public enum Checksum {
    @inlinable
    public static func crc32c(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return crc }
        return wallet_crc32c(crc, base, bytes.count)
    }

    /// CRC32C of bytes 4..<128 of a 128-byte header whose first 4 bytes hold that checksum.
    public static func crc32cOfHeader<Header>(_ header: Header) -> UInt32 {
        precondition(MemoryLayout<Header>.size == 128, "headers are 128 bytes")
        return withUnsafeBytes(of: header) { crc32c(UnsafeRawBufferPointer(rebasing: $0[4..<128])) }
    }

    public static var isHardware: Bool { wallet_crc32c_is_hardware() != 0 }

    /// The table implementation, for tests that check the hardware path against it.
    public static func crc32cPortable(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return 0 }
        return wallet_crc32c_portable(0, base, bytes.count)
    }
}

/// A SHA-256 value, stored as four little-endian words so it can sit inside a fixed-layout header.
public struct Hash256: Equatable, Hashable, Sendable, CustomStringConvertible {
    public var word0: UInt64
    public var word1: UInt64
    public var word2: UInt64
    public var word3: UInt64

    public static let zero = Hash256(word0: 0, word1: 0, word2: 0, word3: 0)

    public init(word0: UInt64, word1: UInt64, word2: UInt64, word3: UInt64) {
        self.word0 = word0
        self.word1 = word1
        self.word2 = word2
        self.word3 = word3
    }

    /// SHA-256 of `bytes`.
    public init(sha256Of bytes: UnsafeRawBufferPointer) {
        self.init(digest: SHA256.hash(data: bytes))
    }

    init(digest: SHA256Digest) {
        var value = Hash256.zero
        digest.withUnsafeBytes { raw in
            precondition(raw.count == 32)
            withUnsafeMutableBytes(of: &value) { $0.copyMemory(from: raw) }
        }
        self = value
    }

    public var bytes: [UInt8] {
        withUnsafeBytes(of: self) { Array($0) }
    }

    public var description: String {
        bytes.map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }

    /// The hash that stands before op 1 of a cluster's log: it binds the chain to the cluster id.
    public static func genesis(clusterId: UInt128) -> Hash256 {
        var seed = Array("wallet-ledger genesis v1".utf8)
        withUnsafeBytes(of: clusterId.littleEndian) { seed.append(contentsOf: $0) }
        return seed.withUnsafeBytes { Hash256(sha256Of: $0) }
    }
}

/// An incremental SHA-256 over raw buffers, for state digests.
public struct StreamingHash {
    private var hasher = SHA256()

    public init() {}

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        hasher.update(bufferPointer: bytes)
    }

    public mutating func update<T>(value: T) {
        withUnsafeBytes(of: value) { hasher.update(bufferPointer: $0) }
    }

    public func finalize() -> Hash256 {
        Hash256(digest: hasher.finalize())
    }
}
