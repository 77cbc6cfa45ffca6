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
    case queryActiveDays = 0x08
    case queryTiers = 0x09
    case queryTransitions = 0x0A
    case queryRetention = 0x0B
    case queryLifecycle = 0x0C
    case querySessions = 0x0D
    case queryUser = 0x0E
    case queryAtRisk = 0x0F
    case queryActions = 0x10
    case export = 0x11
    case verify = 0x12
    case rebuild = 0x13
    case backup = 0x14
    case queryValues = 0x15

    case helloOK = 0x81
    case pong = 0x82
    case defineActionsResult = 0x83
    case upsertUsersResult = 0x84
    case ingestResult = 0x85
    case activityResult = 0x86
    case statsResult = 0x87
    case activeDaysResult = 0x88
    case tiersResult = 0x89
    case transitionsResult = 0x8A
    case retentionResult = 0x8B
    case lifecycleResult = 0x8C
    case sessionsResult = 0x8D
    case userResult = 0x8E
    case atRiskResult = 0x8F
    case actionsResult = 0x90
    case exportPage = 0x91
    case verifyResult = 0x92
    case rebuildResult = 0x93
    case backupResult = 0x94
    case valuesResult = 0x95
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
    case queryActiveDays(from: CivilDate, to: CivilDate, Selection)
    case queryTiers(TierWindow, Selection)
    case queryTransitions(CivilMonth, filters: [DimensionFilter])
    case queryRetention(period: Period, from: CivilDate, to: CivilDate, periods: Int, Selection)
    case queryLifecycle(period: Period, from: CivilDate, to: CivilDate, filters: [DimensionFilter])
    case querySessions(from: CivilDate, to: CivilDate, filters: [DimensionFilter])
    case queryUser(userID: String)
    case queryAtRisk(asOf: CivilDate, limit: Int, filters: [DimensionFilter])
    case queryActions(from: CivilDate, to: CivilDate, filters: [DimensionFilter])
    /// One page of an export; an empty cursor starts at the beginning.
    case export(ExportTable, from: CivilDate?, to: CivilDate?, cursor: [UInt8], limit: Int)
    case verify(maximumReported: Int)
    case rebuild
    /// A consistent, compacted copy of the data directory into `path` on the server's machine.
    case backup(path: String)
    /// The values of a dimension that at least one user holds.
    case queryValues(Dimension)

    public var type: MessageType {
        switch self {
        case .hello: return .hello
        case .ping: return .ping
        case .defineActions: return .defineActions
        case .upsertUsers: return .upsertUsers
        case .ingestEvents: return .ingestEvents
        case .queryActivity: return .queryActivity
        case .stats: return .stats
        case .queryActiveDays: return .queryActiveDays
        case .queryTiers: return .queryTiers
        case .queryTransitions: return .queryTransitions
        case .queryRetention: return .queryRetention
        case .queryLifecycle: return .queryLifecycle
        case .querySessions: return .querySessions
        case .queryUser: return .queryUser
        case .queryAtRisk: return .queryAtRisk
        case .queryActions: return .queryActions
        case .export: return .export
        case .verify: return .verify
        case .rebuild: return .rebuild
        case .backup: return .backup
        case .queryValues: return .queryValues
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
    case activeDaysResult([ActiveDaysRow])
    case tiersResult([TierRow])
    case transitionsResult([TransitionRow])
    case retentionResult([RetentionRow])
    case lifecycleResult([LifecycleRow])
    case sessionsResult(SessionSummary)
    /// nil: no such user.
    case userResult(UserDetail?)
    case atRiskResult([AtRiskRow])
    case actionsResult([ActionUsageRow])
    /// Rows of one export page; an empty `next` cursor means this was the last page.
    case exportPage(rows: [[ExportValue]], next: [UInt8])
    case verifyResult(VerificationReport)
    case rebuildResult
    /// Bytes of the copy written.
    case backupResult(bytes: Int)
    case valuesResult([DimensionValueRow])
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
        case .activeDaysResult: return .activeDaysResult
        case .tiersResult: return .tiersResult
        case .transitionsResult: return .transitionsResult
        case .retentionResult: return .retentionResult
        case .lifecycleResult: return .lifecycleResult
        case .sessionsResult: return .sessionsResult
        case .userResult: return .userResult
        case .atRiskResult: return .atRiskResult
        case .actionsResult: return .actionsResult
        case .exportPage: return .exportPage
        case .verifyResult: return .verifyResult
        case .rebuildResult: return .rebuildResult
        case .backupResult: return .backupResult
        case .valuesResult: return .valuesResult
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

/// A `u32` count that is not known (a day or period after the store's last day): `FF FF FF FF`.
let unknownCount = UInt32.max
