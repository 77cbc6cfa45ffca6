import NIOCore

/// PING (0x02): a round trip; PONG echoes the nonce (4.2).
public struct Ping: RequestMessage {
    public typealias Response = Pong
    public static let messageType = MessageType.ping

    public var nonce: UInt64

    public init(nonce: UInt64) { self.nonce = nonce }

    public init(decoding payload: inout ByteBuffer) throws(ProtocolError) {
        self.nonce = try payload.read(UInt64.self, "nonce")
    }

    public func encode(into payload: inout ByteBuffer) { payload.writeInteger(self.nonce) }
}

/// PONG (0x82).
public struct Pong: ResponseMessage {
    public static let messageType = MessageType.pong

    public var nonce: UInt64

    public init(nonce: UInt64) { self.nonce = nonce }

    public init(decoding payload: inout ByteBuffer) throws(ProtocolError) {
        self.nonce = try payload.read(UInt64.self, "nonce")
    }

    public func encode(into payload: inout ByteBuffer) { payload.writeInteger(self.nonce) }
}
