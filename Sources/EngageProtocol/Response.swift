import EngageModel
import NIOCore

/// A response as a server sends it, decoded (for tests, fuzzers and tools; the client decodes each response as
/// the type its request names).
public enum Response: Sendable, Equatable {
    case helloOK(HelloOK)
    case pong(Pong)
    case defineActionsResult(DefineActionsResult)
    case upsertUsersResult(UpsertUsersResult)
    case ingestResult(IngestResult)
    case activityResult(ActivityResult)
    case statsResult(StatsResult)
    case activeDaysResult(ActiveDaysResult)
    case tiersResult(TiersResult)
    case transitionsResult(TransitionsResult)
    case retentionResult(RetentionResult)
    case lifecycleResult(LifecycleResult)
    case sessionsResult(SessionsResult)
    case userResult(UserResult)
    case atRiskResult(AtRiskResult)
    case actionsResult(ActionsResult)
    case exportPage(ExportPageResult)
    case verifyResult(VerifyResult)
    case rebuildResult(RebuildResult)
    case backupResult(BackupResult)
    case valuesResult(ValuesResult)
    case waitAppliedResult(WaitAppliedResult)
    case changesResult(ChangesResult)
    case error(ErrorResponse)

    /// An ERROR response.
    public static func error(_ error: ProtocolError) -> Response { .error(ErrorResponse(error)) }

    public static func decode(_ frame: Frame) throws(ProtocolError) -> Response {
        guard let type = MessageType(rawValue: frame.type) else {
            throw ProtocolError(
                .unknownMessageType,
                "message type 0x\(String(frame.type, radix: 16)) is not a response"
            )
        }
        var payload = frame.payload
        let response: Response
        switch type {
        case .helloOK: response = .helloOK(try HelloOK(decoding: &payload))
        case .pong: response = .pong(try Pong(decoding: &payload))
        case .defineActionsResult: response = .defineActionsResult(try DefineActionsResult(decoding: &payload))
        case .upsertUsersResult: response = .upsertUsersResult(try UpsertUsersResult(decoding: &payload))
        case .ingestResult: response = .ingestResult(try IngestResult(decoding: &payload))
        case .activityResult: response = .activityResult(try ActivityResult(decoding: &payload))
        case .statsResult: response = .statsResult(try StatsResult(decoding: &payload))
        case .activeDaysResult: response = .activeDaysResult(try ActiveDaysResult(decoding: &payload))
        case .tiersResult: response = .tiersResult(try TiersResult(decoding: &payload))
        case .transitionsResult: response = .transitionsResult(try TransitionsResult(decoding: &payload))
        case .retentionResult: response = .retentionResult(try RetentionResult(decoding: &payload))
        case .lifecycleResult: response = .lifecycleResult(try LifecycleResult(decoding: &payload))
        case .sessionsResult: response = .sessionsResult(try SessionsResult(decoding: &payload))
        case .userResult: response = .userResult(try UserResult(decoding: &payload))
        case .atRiskResult: response = .atRiskResult(try AtRiskResult(decoding: &payload))
        case .actionsResult: response = .actionsResult(try ActionsResult(decoding: &payload))
        case .exportPage: response = .exportPage(try ExportPageResult(decoding: &payload))
        case .verifyResult: response = .verifyResult(try VerifyResult(decoding: &payload))
        case .rebuildResult: response = .rebuildResult(try RebuildResult(decoding: &payload))
        case .backupResult: response = .backupResult(try BackupResult(decoding: &payload))
        case .valuesResult: response = .valuesResult(try ValuesResult(decoding: &payload))
        case .waitAppliedResult: response = .waitAppliedResult(try WaitAppliedResult(decoding: &payload))
        case .changesResult: response = .changesResult(try ChangesResult(decoding: &payload))
        case .error: response = .error(try ErrorResponse(decoding: &payload))
        case .hello, .ping, .defineActions, .upsertUsers, .ingestEvents, .queryActivity, .stats, .queryActiveDays,
            .queryTiers, .queryTransitions, .queryRetention, .queryLifecycle, .querySessions, .queryUser, .queryAtRisk,
            .queryActions, .export, .verify, .rebuild, .backup, .queryValues, .waitApplied, .changes, .exportUsers:
            throw ProtocolError(
                .unknownMessageType,
                "message type 0x\(String(frame.type, radix: 16)) (\(type.specName)) is a request, not a response"
            )
        }
        try payload.expectEnd()
        return response
    }

    /// The message carried.
    public var message: any WireMessage {
        switch self {
        case .helloOK(let message): return message
        case .pong(let message): return message
        case .defineActionsResult(let message): return message
        case .upsertUsersResult(let message): return message
        case .ingestResult(let message): return message
        case .activityResult(let message): return message
        case .statsResult(let message): return message
        case .activeDaysResult(let message): return message
        case .tiersResult(let message): return message
        case .transitionsResult(let message): return message
        case .retentionResult(let message): return message
        case .lifecycleResult(let message): return message
        case .sessionsResult(let message): return message
        case .userResult(let message): return message
        case .atRiskResult(let message): return message
        case .actionsResult(let message): return message
        case .exportPage(let message): return message
        case .verifyResult(let message): return message
        case .rebuildResult(let message): return message
        case .backupResult(let message): return message
        case .valuesResult(let message): return message
        case .waitAppliedResult(let message): return message
        case .changesResult(let message): return message
        case .error(let message): return message
        }
    }

    public var type: MessageType { Swift.type(of: self.message).messageType }

    public func encode(requestID: UInt32, allocator: ByteBufferAllocator = ByteBufferAllocator()) -> Frame {
        self.message.frame(requestID: requestID, allocator: allocator)
    }
}
