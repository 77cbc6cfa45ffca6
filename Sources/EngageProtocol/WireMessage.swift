import NIOCore

/// A message that travels in one frame: it knows its type byte and reads and writes its own payload
/// (proto-spec/PROTOCOL.md section 4). One type per message, each in `Messages/`.
public protocol WireMessage: Sendable, Equatable {
    static var messageType: MessageType { get }

    /// Reads the payload's fields. The caller checks that nothing is left (``decode(_:)`` does).
    init(decoding payload: inout ByteBuffer) throws(ProtocolError)

    /// Appends the payload's fields.
    func encode(into payload: inout ByteBuffer)
}

/// A message a client sends; `Response` is what a server answers it with (besides ERROR).
public protocol RequestMessage: WireMessage {
    associatedtype Response: ResponseMessage
}

/// A message a server sends.
public protocol ResponseMessage: WireMessage {}

extension WireMessage {
    /// Decodes a frame of this message's type, refusing trailing bytes.
    public static func decode(_ frame: Frame) throws(ProtocolError) -> Self {
        guard frame.type == Self.messageType.rawValue else {
            throw ProtocolError(
                .unknownMessageType,
                "expected \(Self.messageType) (0x\(String(Self.messageType.rawValue, radix: 16))), got type 0x\(String(frame.type, radix: 16))"
            )
        }
        var payload = frame.payload
        let message = try Self(decoding: &payload)
        try payload.expectEnd()
        return message
    }

    /// This message in a frame with `requestID`.
    public func frame(requestID: UInt32, allocator: ByteBufferAllocator = ByteBufferAllocator()) -> Frame {
        var payload = allocator.buffer(capacity: 64)
        self.encode(into: &payload)
        return Frame(type: Self.messageType.rawValue, requestID: requestID, payload: payload)
    }
}
