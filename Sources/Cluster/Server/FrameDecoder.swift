// Splitting a TCP byte stream into checked frames; anything untrustworthy closes the connection.
import LedgerCore
import NIOCore

/// Decodes frames: waits for a 64-byte header, checks it (magic, checksum, version, command,
/// cluster, size limit) before reading a body, then checks the body's checksum. A bad header or
/// body throws: the stream can no longer be trusted to be in step, so the connection closes.
struct FrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = Frame
    let clusterId: UInt128

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard buffer.readableBytes >= FrameHeader.sizeBytes else { return .needMoreData }
        let header = try buffer.withUnsafeReadableBytes { bytes -> FrameHeader in
            let window = UnsafeRawBufferPointer(rebasing: bytes[0..<FrameHeader.sizeBytes])
            if let problem = FrameHeader.problem(in: window, clusterId: clusterId) { throw problem }
            return window.loadUnaligned(as: FrameHeader.self)
        }
        let bodySize = Int(header.bodySizeBytes)
        guard buffer.readableBytes >= FrameHeader.sizeBytes + bodySize else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: FrameHeader.sizeBytes)
        let body = buffer.readSlice(length: bodySize)!
        let checksum = body.withUnsafeReadableBytes { Checksum.crc32c($0) }
        guard checksum == header.bodyChecksum else { throw WireError.bodyChecksumMismatch }
        context.fireChannelRead(wrapInboundOut(Frame(header: header, body: body)))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        // A peer that disconnects mid-frame leaves a partial frame: it is dropped, never delivered.
        while try decode(context: context, buffer: &buffer) == .continue {}
        buffer.clear()
        return .needMoreData
    }
}
