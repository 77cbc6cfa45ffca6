import EngageModel
import NIOCore

/// Message types: requests are 0x01...0x7F, each response is its request's type | 0x80, 0xFF is ERROR.
public enum MessageType: UInt8, Sendable, CaseIterable {
    case hello = 0x01
    case ping = 0x02
    case defineActions = 0x03
    case upsertUsers = 0x04
    case ingestEvents = 0x05
    case queryActivity = 0x06
    case stats = 0x07

    case helloOK = 0x81
    case pong = 0x82
    case defineActionsResult = 0x83
    case upsertUsersResult = 0x84
    case ingestResult = 0x85
    case activityResult = 0x86
    case statsResult = 0x87
    case error = 0xFF

    /// The response type answering this request type.
    public var responseType: MessageType? { MessageType(rawValue: self.rawValue | 0x80) }
}

/// The first frame of a connection.
public struct Hello: Equatable, Sendable {
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
}

/// The server's answer to HELLO: the version chosen and the limits that apply to this connection.
public struct HelloOK: Equatable, Sendable {
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
}

/// A request, as a client sends it.
public enum Request: Equatable, Sendable {
    case hello(Hello)
    case ping(nonce: UInt64)
    case defineActions([ActionDefinition])
    case upsertUsers([UserProfile])
    case ingestEvents(IngestBatch)
    case queryActivity(ActivityQuery)
    case stats

    public var type: MessageType {
        switch self {
        case .hello: return .hello
        case .ping: return .ping
        case .defineActions: return .defineActions
        case .upsertUsers: return .upsertUsers
        case .ingestEvents: return .ingestEvents
        case .queryActivity: return .queryActivity
        case .stats: return .stats
        }
    }

    /// Number of items the request carries (limited by `max_batch_items`).
    public var itemCount: Int {
        switch self {
        case .defineActions(let actions): return actions.count
        case .upsertUsers(let users): return users.count
        case .ingestEvents(let batch): return batch.events.count
        default: return 0
        }
    }
}

/// A response, as a server sends it.
public enum Response: Equatable, Sendable {
    case helloOK(HelloOK)
    case pong(nonce: UInt64)
    case defineActionsResult(BatchResult)
    case upsertUsersResult(BatchResult)
    case ingestResult(BatchResult)
    case activityResult([ActivityRow])
    case statsResult(StoreStats)
    case error(ProtocolError)

    public var type: MessageType {
        switch self {
        case .helloOK: return .helloOK
        case .pong: return .pong
        case .defineActionsResult: return .defineActionsResult
        case .upsertUsersResult: return .upsertUsersResult
        case .ingestResult: return .ingestResult
        case .activityResult: return .activityResult
        case .statsResult: return .statsResult
        case .error: return .error
        }
    }
}

/// Attribute bits of UPSERT_USERS' `fields` byte; bit 0 is the registration date.
enum UserFieldBit {
    static let registrationDate: UInt8 = 1
    static func attribute(_ attribute: Attribute) -> UInt8 { 1 << UInt8(attribute.index + 1) }
    static let all: UInt8 = 0x1F
}

/// Day numbers on the wire: signed days since 1970-01-01. "None" is Int32.min.
let noDay = Int32.min
