import EngageModel
import NIOCore

/// BATCH_RESULT (4.6): what DEFINE_ACTIONS, UPSERT_USERS and INGEST_EVENTS are answered with.
public protocol BatchResultMessage: ResponseMessage {
    var result: BatchResult { get }
    init(_ result: BatchResult)
}

extension BatchResultMessage {
    public init(decoding payload: inout ByteBuffer) throws(ProtocolError) {
        let accepted = try payload.readCount("accepted")
        let duplicates = try payload.readCount("duplicates")
        let count = try payload.readItemCount(UInt32.self, "rejected_count", minimumSize: 6)
        let rejected = try payload.readItems(count) { (buffer: inout ByteBuffer) throws(ProtocolError) -> Rejection in
            let index = try buffer.readCount("index")
            return Rejection(index: index, reason: RejectReason(rawValue: try buffer.read(UInt16.self, "reason")))
        }
        self.init(BatchResult(accepted: accepted, duplicates: duplicates, rejected: rejected))
    }

    public func encode(into payload: inout ByteBuffer) {
        payload.writeCount(self.result.accepted)
        payload.writeCount(self.result.duplicates)
        payload.writeCount(self.result.rejected.count)
        for rejection in self.result.rejected {
            payload.writeCount(rejection.index)
            payload.writeInteger(rejection.reason.rawValue)
        }
    }
}

/// DEFINE_ACTIONS_RESULT (0x83).
public struct DefineActionsResult: BatchResultMessage {
    public static let messageType = MessageType.defineActionsResult
    public var result: BatchResult
    public init(_ result: BatchResult) { self.result = result }
}

/// UPSERT_USERS_RESULT (0x84).
public struct UpsertUsersResult: BatchResultMessage {
    public static let messageType = MessageType.upsertUsersResult
    public var result: BatchResult
    public init(_ result: BatchResult) { self.result = result }
}

/// INGEST_RESULT (0x85): sent only once everything the batch changed is durable.
public struct IngestResult: BatchResultMessage {
    public static let messageType = MessageType.ingestResult
    public var result: BatchResult
    public init(_ result: BatchResult) { self.result = result }
}
