// Building frames: reserve the header, write the body, then seal the header over it.
import LedgerCore
import NIOCore

/// A frame under construction in a `ByteBuffer`: write the body with the buffer's little-endian
/// writers, then `seal` fills in the header (sizes and checksums).
public struct FrameBuilder {
    public var buffer: ByteBuffer
    let command: Command
    let clusterId: UInt128
    let requestId: UInt64

    public init(command: Command, clusterId: UInt128, requestId: UInt64, bodyCapacityBytes: Int = 256,
                allocator: ByteBufferAllocator = ByteBufferAllocator()) {
        buffer = allocator.buffer(capacity: FrameHeader.sizeBytes + bodyCapacityBytes)
        buffer.writeRepeatingByte(0, count: FrameHeader.sizeBytes)
        self.command = command
        self.clusterId = clusterId
        self.requestId = requestId
    }

    public mutating func write<T: FixedWidthInteger>(_ value: T) {
        buffer.writeInteger(value, endianness: .little)
    }

    public mutating func write(bytes: UnsafeRawBufferPointer) {
        buffer.writeBytes(bytes)
    }

    public mutating func write(_ value: UInt128) {
        buffer.writeInteger(UInt64(truncatingIfNeeded: value), endianness: .little)
        buffer.writeInteger(UInt64(truncatingIfNeeded: value >> 64), endianness: .little)
    }

    /// Finishes the frame: the header's body size and both checksums.
    public consuming func seal() -> ByteBuffer {
        let bodyCount = buffer.writerIndex - FrameHeader.sizeBytes
        precondition(bodyCount <= WireLimits.frameBodySizeBytesMax, "frame body over frame_body_size_bytes_max")
        let header = buffer.withUnsafeReadableBytes { all in
            FrameHeader(command: command, clusterId: clusterId, requestId: requestId,
                        body: UnsafeRawBufferPointer(rebasing: all[FrameHeader.sizeBytes...]))
        }
        withUnsafeBytes(of: header) { _ = buffer.setBytes($0, at: 0) }
        return buffer
    }
}

/// A frame that passed the header and body checks.
public struct Frame: Sendable {
    public let header: FrameHeader
    public let body: ByteBuffer

    public init(header: FrameHeader, body: ByteBuffer) {
        self.header = header
        self.body = body
    }
}
