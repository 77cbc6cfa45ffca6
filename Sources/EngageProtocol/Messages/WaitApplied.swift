import NIOCore

/// WAIT_APPLIED (0x16): answered once every write acknowledged before the server read this request is
/// visible to queries (4.27). Empty payload; needs no role.
public struct WaitApplied: RequestMessage {
    public typealias Response = WaitAppliedResult
    public static let messageType = MessageType.waitApplied

    public init() {}
    public init(decoding payload: inout ByteBuffer) throws(ProtocolError) {}
    public func encode(into payload: inout ByteBuffer) {}
}

/// WAIT_APPLIED_RESULT (0x96): the sequence number of the last write batch applied.
public struct WaitAppliedResult: ResponseMessage {
    public static let messageType = MessageType.waitAppliedResult

    /// Write batches applied since the data directory was created (the sequence of the last one).
    public var appliedSequence: Int

    public init(appliedSequence: Int) { self.appliedSequence = appliedSequence }

    public init(decoding payload: inout ByteBuffer) throws(ProtocolError) {
        self.appliedSequence = try payload.readCount64("applied_sequence")
    }

    public func encode(into payload: inout ByteBuffer) { payload.writeCount64(self.appliedSequence) }
}
