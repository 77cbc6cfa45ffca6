import NIOCore

/// HELLO (0x01): the first frame of a connection (4.1).
public struct Hello: RequestMessage {
    public typealias Response = HelloOK
    public static let messageType = MessageType.hello

    /// `ENGA`.
    public static let magic: [UInt8] = Array("ENGA".utf8)
    public static let currentVersion: UInt16 = 1

    public var minimumVersion: UInt16
    public var maximumVersion: UInt16
    /// Authentication token; empty when the server runs without tokens.
    public var token: String
    public var clientName: String

    public init(
        minimumVersion: UInt16 = Hello.currentVersion,
        maximumVersion: UInt16 = Hello.currentVersion,
        token: String = "",
        clientName: String
    ) {
        self.minimumVersion = minimumVersion
        self.maximumVersion = maximumVersion
        self.token = token
        self.clientName = clientName
    }

    public init(decoding payload: inout ByteBuffer) throws(ProtocolError) {
        try Self.readMagic(&payload, "HELLO")
        self.minimumVersion = try payload.read(UInt16.self, "min_version")
        self.maximumVersion = try payload.read(UInt16.self, "max_version")
        self.token = try payload.readShortString("token")
        self.clientName = try payload.readShortString("client_name")
    }

    public func encode(into payload: inout ByteBuffer) {
        payload.writeBytes(Self.magic)
        payload.writeInteger(self.minimumVersion)
        payload.writeInteger(self.maximumVersion)
        payload.writeShortString(self.token)
        payload.writeShortString(self.clientName)
    }

    static func readMagic(_ payload: inout ByteBuffer, _ message: String) throws(ProtocolError) {
        guard let magic = payload.readBytes(length: 4) else {
            throw ProtocolError(.truncatedPayload, "payload ends inside field 'magic'")
        }
        guard magic == Hello.magic else { throw ProtocolError(.badMagic, "\(message) must start with the bytes ENGA") }
    }
}

/// HELLO_OK (0x81): the version chosen and the limits that apply to this connection (4.1).
public struct HelloOK: ResponseMessage {
    public static let messageType = MessageType.helloOK

    public var version: UInt16
    public var serverName: String
    public var timeZone: String
    public var maximumFrameLength: UInt32
    public var maximumBatchItems: UInt32
    public var maximumInFlight: UInt16

    public init(
        version: UInt16,
        serverName: String,
        timeZone: String,
        maximumFrameLength: UInt32,
        maximumBatchItems: UInt32,
        maximumInFlight: UInt16
    ) {
        self.version = version
        self.serverName = serverName
        self.timeZone = timeZone
        self.maximumFrameLength = maximumFrameLength
        self.maximumBatchItems = maximumBatchItems
        self.maximumInFlight = maximumInFlight
    }

    public init(decoding payload: inout ByteBuffer) throws(ProtocolError) {
        try Hello.readMagic(&payload, "HELLO_OK")
        self.version = try payload.read(UInt16.self, "version")
        self.serverName = try payload.readShortString("server_name")
        self.timeZone = try payload.readShortString("time_zone")
        self.maximumFrameLength = try payload.read(UInt32.self, "max_frame_length")
        self.maximumBatchItems = try payload.read(UInt32.self, "max_batch_items")
        self.maximumInFlight = try payload.read(UInt16.self, "max_in_flight")
    }

    public func encode(into payload: inout ByteBuffer) {
        payload.writeBytes(Hello.magic)
        payload.writeInteger(self.version)
        payload.writeShortString(self.serverName)
        payload.writeShortString(self.timeZone)
        payload.writeInteger(self.maximumFrameLength)
        payload.writeInteger(self.maximumBatchItems)
        payload.writeInteger(self.maximumInFlight)
    }
}
