import NIOCore

/// One protocol frame: `length: u32 | type: u8 | request_id: u32 | payload`, all big-endian, where `length`
/// counts the bytes after itself (type, request id and payload). See proto-spec/PROTOCOL.md.
public struct Frame: Sendable, Equatable {
    public var type: UInt8
    public var requestID: UInt32
    public var payload: ByteBuffer

    public init(type: UInt8, requestID: UInt32, payload: ByteBuffer) {
        self.type = type
        self.requestID = requestID
        self.payload = payload
    }

    /// Bytes of the frame header: length (4), type (1), request id (4).
    public static let headerSize = 9
    /// The smallest legal value of the length field: type and request id.
    public static let minimumLength: UInt32 = 5
    /// Default largest frame (the length field's value) a server accepts: 16 MiB.
    public static let defaultMaximumLength = 16 * 1024 * 1024

    /// Writes the whole frame (header and payload) into `buffer`.
    public func write(into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt32(Frame.minimumLength) + UInt32(self.payload.readableBytes))
        buffer.writeInteger(self.type)
        buffer.writeInteger(self.requestID)
        var payload = self.payload
        buffer.writeBuffer(&payload)
    }
}

/// Splits a byte stream into frames, refusing any frame whose declared length exceeds `maximumLength`
/// before buffering it (so a client cannot make the server allocate what it announces).
public struct FrameDecoder: NIOSingleStepByteToMessageDecoder {
    public typealias InboundOut = Frame

    public let maximumLength: Int

    public init(maximumLength: Int = Frame.defaultMaximumLength) {
        self.maximumLength = maximumLength
    }

    public mutating func decode(buffer: inout ByteBuffer) throws -> Frame? {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) else { return nil }
        guard length >= Frame.minimumLength else {
            throw ProtocolError(
                .malformedFrame,
                "frame length \(length) is below the minimum of \(Frame.minimumLength)"
            )
        }
        guard Int(length) <= self.maximumLength else {
            throw ProtocolError(
                .frameTooLarge,
                "frame length \(length) exceeds the maximum of \(self.maximumLength) bytes"
            )
        }
        guard buffer.readableBytes >= 4 + Int(length) else { return nil }
        buffer.moveReaderIndex(forwardBy: 4)
        let type: UInt8 = buffer.readInteger()!
        let requestID: UInt32 = buffer.readInteger()!
        let payload = buffer.readSlice(length: Int(length) - 5)!
        return Frame(type: type, requestID: requestID, payload: payload)
    }

    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> Frame? {
        try self.decode(buffer: &buffer)
    }
}

/// Writes frames.
public struct FrameEncoder: MessageToByteEncoder {
    public typealias OutboundIn = Frame

    public init() {}

    public func encode(data: Frame, out: inout ByteBuffer) throws {
        data.write(into: &out)
    }
}
