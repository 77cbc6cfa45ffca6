import EngageModel
import NIOCore

/// A request as a client sends it: the handshake, a ping, or a command the server carries out.
///
/// Decoding dispatches on ``MessageType`` with a switch that lists every type, so a new message that is
/// not decoded here does not compile.
public enum Request: Sendable, Equatable {
    case hello(Hello)
    case ping(Ping)
    case command(Command)

    /// Decodes a request frame. Response types are `unknown_message_type`, like unknown bytes.
    public static func decode(_ frame: Frame) throws(ProtocolError) -> Request {
        guard let type = MessageType(rawValue: frame.type) else {
            throw ProtocolError(.unknownMessageType, "message type 0x\(String(frame.type, radix: 16)) is not a request")
        }
        var payload = frame.payload
        let request: Request
        switch type {
        case .hello: request = .hello(try Hello(decoding: &payload))
        case .ping: request = .ping(try Ping(decoding: &payload))
        case .defineActions: request = .command(.defineActions(try DefineActions(decoding: &payload)))
        case .upsertUsers: request = .command(.upsertUsers(try UpsertUsers(decoding: &payload)))
        case .ingestEvents: request = .command(.ingestEvents(try IngestEvents(decoding: &payload)))
        case .queryActivity: request = .command(.queryActivity(try QueryActivity(decoding: &payload)))
        case .stats: request = .command(.stats(try Stats(decoding: &payload)))
        case .queryActiveDays: request = .command(.queryActiveDays(try QueryActiveDays(decoding: &payload)))
        case .queryTiers: request = .command(.queryTiers(try QueryTiers(decoding: &payload)))
        case .queryTransitions: request = .command(.queryTransitions(try QueryTransitions(decoding: &payload)))
        case .queryRetention: request = .command(.queryRetention(try QueryRetention(decoding: &payload)))
        case .queryLifecycle: request = .command(.queryLifecycle(try QueryLifecycle(decoding: &payload)))
        case .querySessions: request = .command(.querySessions(try QuerySessions(decoding: &payload)))
        case .queryUser: request = .command(.queryUser(try QueryUser(decoding: &payload)))
        case .queryAtRisk: request = .command(.queryAtRisk(try QueryAtRisk(decoding: &payload)))
        case .queryActions: request = .command(.queryActions(try QueryActions(decoding: &payload)))
        case .export: request = .command(.export(try Export(decoding: &payload)))
        case .verify: request = .command(.verify(try Verify(decoding: &payload)))
        case .rebuild: request = .command(.rebuild(try Rebuild(decoding: &payload)))
        case .backup: request = .command(.backup(try Backup(decoding: &payload)))
        case .queryValues: request = .command(.queryValues(try QueryValues(decoding: &payload)))
        case .waitApplied: request = .command(.waitApplied(try WaitApplied(decoding: &payload)))
        case .changes: request = .command(.changes(try Changes(decoding: &payload)))
        case .exportUsers: request = .command(.exportUsers(try ExportUsers(decoding: &payload)))
        case .helloOK, .pong, .defineActionsResult, .upsertUsersResult, .ingestResult, .activityResult, .statsResult,
            .activeDaysResult, .tiersResult, .transitionsResult, .retentionResult, .lifecycleResult, .sessionsResult,
            .userResult, .atRiskResult, .actionsResult, .exportPage, .verifyResult, .rebuildResult, .backupResult,
            .valuesResult, .waitAppliedResult, .changesResult, .error:
            throw ProtocolError(
                .unknownMessageType,
                "message type 0x\(String(frame.type, radix: 16)) (\(type.specName)) is a response, not a request"
            )
        }
        try payload.expectEnd()
        return request
    }

    /// The message carried.
    public var message: any WireMessage {
        switch self {
        case .hello(let hello): return hello
        case .ping(let ping): return ping
        case .command(let command): return command.message
        }
    }

    public var type: MessageType { Swift.type(of: self.message).messageType }

    public func encode(requestID: UInt32, allocator: ByteBufferAllocator = ByteBufferAllocator()) -> Frame {
        self.message.frame(requestID: requestID, allocator: allocator)
    }
}

/// What a server carries out for a client: every request but the handshake and PING, which the connection
/// answers itself.
public enum Command: Sendable, Equatable {
    case defineActions(DefineActions)
    case upsertUsers(UpsertUsers)
    case ingestEvents(IngestEvents)
    case queryActivity(QueryActivity)
    case stats(Stats)
    case queryActiveDays(QueryActiveDays)
    case queryTiers(QueryTiers)
    case queryTransitions(QueryTransitions)
    case queryRetention(QueryRetention)
    case queryLifecycle(QueryLifecycle)
    case querySessions(QuerySessions)
    case queryUser(QueryUser)
    case queryAtRisk(QueryAtRisk)
    case queryActions(QueryActions)
    case export(Export)
    case verify(Verify)
    case rebuild(Rebuild)
    case backup(Backup)
    case queryValues(QueryValues)
    case waitApplied(WaitApplied)
    case changes(Changes)
    case exportUsers(ExportUsers)

    public var message: any WireMessage {
        switch self {
        case .defineActions(let message): return message
        case .upsertUsers(let message): return message
        case .ingestEvents(let message): return message
        case .queryActivity(let message): return message
        case .stats(let message): return message
        case .queryActiveDays(let message): return message
        case .queryTiers(let message): return message
        case .queryTransitions(let message): return message
        case .queryRetention(let message): return message
        case .queryLifecycle(let message): return message
        case .querySessions(let message): return message
        case .queryUser(let message): return message
        case .queryAtRisk(let message): return message
        case .queryActions(let message): return message
        case .export(let message): return message
        case .verify(let message): return message
        case .rebuild(let message): return message
        case .backup(let message): return message
        case .queryValues(let message): return message
        case .waitApplied(let message): return message
        case .changes(let message): return message
        case .exportUsers(let message): return message
        }
    }

    public var type: MessageType { Swift.type(of: self.message).messageType }

    /// Items the request carries (limited by `max_batch_items`).
    public var itemCount: Int {
        switch self {
        case .defineActions(let message): return message.actions.count
        case .upsertUsers(let message): return message.users.count
        case .ingestEvents(let message): return message.batch.events.count
        default: return 0
        }
    }
}
