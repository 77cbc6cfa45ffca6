import NIOCore

/// REBUILD (0x13): re-derive every derived record from the raw events (empty payload).
public struct Rebuild: RequestMessage {
    public typealias Response = RebuildResult
    public static let messageType = MessageType.rebuild

    public init() {}
    public init(decoding payload: inout ByteBuffer) throws(ProtocolError) {}
    public func encode(into payload: inout ByteBuffer) {}
}

/// REBUILD_RESULT (0x93): sent once the rebuild is committed (empty payload).
public struct RebuildResult: ResponseMessage {
    public static let messageType = MessageType.rebuildResult

    public init() {}
    public init(decoding payload: inout ByteBuffer) throws(ProtocolError) {}
    public func encode(into payload: inout ByteBuffer) {}
}
