// liblz4 block compression, for archived segments and snapshots.
import CLZ4

public enum LZ4Error: Error, Equatable {
    case inputTooLarge(Int)
    case compressionFailed
    case corruptInput
}

/// LZ4 block format: fast enough to compress sealed segments while ingest goes on.
public enum LZ4 {
    /// Largest input one call takes (liblz4's LZ4_MAX_INPUT_SIZE).
    public static let inputBytesMax = 0x7E00_0000

    public static func compressBound(_ sizeBytes: Int) -> Int { Int(LZ4_compressBound(Int32(sizeBytes))) }

    public static func compress(_ source: UnsafeRawBufferPointer) throws -> [UInt8] {
        guard source.count <= inputBytesMax else { throw LZ4Error.inputTooLarge(source.count) }
        var output = [UInt8](repeating: 0, count: compressBound(source.count))
        let written = output.withUnsafeMutableBytes { destination in
            LZ4_compress_default(
                source.baseAddress?.assumingMemoryBound(to: CChar.self), destination.baseAddress!.assumingMemoryBound(to: CChar.self),
                Int32(source.count), Int32(destination.count))
        }
        guard written > 0 || source.isEmpty else { throw LZ4Error.compressionFailed }
        output.removeLast(output.count - Int(written))
        return output
    }

    /// Decompresses into exactly all of `destination`; anything else is `corruptInput`.
    public static func decompress(_ source: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer) throws {
        let read = LZ4_decompress_safe(
            source.baseAddress?.assumingMemoryBound(to: CChar.self), destination.baseAddress?.assumingMemoryBound(to: CChar.self),
            Int32(source.count), Int32(destination.count))
        guard read == destination.count else { throw LZ4Error.corruptInput }
    }

    /// Compresses into `destination` (at least `compressBound(source.count)` bytes); returns the size.
    public static func compress(_ source: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer) throws -> Int {
        guard source.count <= inputBytesMax, destination.count >= compressBound(source.count) else { throw LZ4Error.inputTooLarge(source.count) }
        let written = LZ4_compress_default(
            source.baseAddress?.assumingMemoryBound(to: CChar.self), destination.baseAddress!.assumingMemoryBound(to: CChar.self),
            Int32(source.count), Int32(destination.count))
        guard written > 0 || source.isEmpty else { throw LZ4Error.compressionFailed }
        return Int(written)
    }

    /// Decompresses into exactly `originalSizeBytes`; anything else is `corruptInput`.
    public static func decompress(_ source: UnsafeRawBufferPointer, originalSizeBytes: Int) throws -> [UInt8] {
        var output = [UInt8](repeating: 0, count: originalSizeBytes)
        let read = output.withUnsafeMutableBytes { destination in
            LZ4_decompress_safe(
                source.baseAddress?.assumingMemoryBound(to: CChar.self), destination.baseAddress?.assumingMemoryBound(to: CChar.self),
                Int32(source.count), Int32(originalSizeBytes))
        }
        guard read == originalSizeBytes else { throw LZ4Error.corruptInput }
        return output
    }
}
