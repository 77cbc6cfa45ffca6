import NIOCore

/// ERROR (0xFF): answers any request, or (request id 0) the connection itself (4.9).
public struct ErrorResponse: ResponseMessage {
    public static let messageType = MessageType.error

    public var error: ProtocolError

    public init(_ error: ProtocolError) { self.error = error }

    public init(decoding payload: inout ByteBuffer) throws(ProtocolError) {
        let code = ErrorCode(rawValue: try payload.read(UInt16.self, "code"))
        self.error = ProtocolError(code, try payload.readShortString("message"))
    }

    public func encode(into payload: inout ByteBuffer) {
        payload.writeInteger(self.error.code.rawValue)
        payload.writeShortString(self.error.message)
    }
}
