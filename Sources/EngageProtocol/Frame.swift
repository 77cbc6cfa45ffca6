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

/// Where a raw byte stream stands between frames, for the connection's timers (a frame begun and not
/// finished, frames completed) before the decoder has seen the bytes. Reads only the length fields.
public struct FrameBoundaries: Sendable {
    private var lengthBytes: UInt32 = 0
    private var lengthBytesSeen = 0
    /// Bytes still to come in the current frame, after its length field.
    private var remaining = 0

    public init() {}

    /// Whether the bytes so far end inside a frame.
    public var isInsideFrame: Bool { self.lengthBytesSeen > 0 || self.remaining > 0 }

    /// Takes the next bytes of the stream: how many frames they began and completed. A length the decoder will
    /// refuse counts as a completed frame (the connection ends there).
    public mutating func consume(_ buffer: ByteBuffer) -> (began: Int, completed: Int) {
        var began = 0
        var completed = 0
        var view = buffer.readableBytesView[...]
        while !view.isEmpty {
            if self.remaining == 0 {
                if self.lengthBytesSeen == 0 { began += 1 }
                let take = min(4 - self.lengthBytesSeen, view.count)
                for byte in view.prefix(take) { self.lengthBytes = self.lengthBytes << 8 | UInt32(byte) }
                self.lengthBytesSeen += take
                view = view.dropFirst(take)
                if self.lengthBytesSeen == 4 {
                    self.remaining = Int(self.lengthBytes)
                    self.lengthBytes = 0
                    self.lengthBytesSeen = 0
                    if self.remaining == 0 { completed += 1 }
                }
            } else {
                let take = min(self.remaining, view.count)
                view = view.dropFirst(take)
                self.remaining -= take
                if self.remaining == 0 { completed += 1 }
            }
        }
        return (began, completed)
    }
}
