/// The star-schema tables of the data model that `engage export` writes.
public enum ExportTable: String, CaseIterable, Sendable {
    case users
    case actions
    case dates
    case events
    case sessions
    case dailyActivity = "daily-activity"

    /// The data model's table name.
    public var tableName: String {
        switch self {
        case .users: return "dim_users"
        case .actions: return "dim_actions"
        case .dates: return "dim_date"
        case .events: return "fact_user_actions"
        case .sessions: return "fact_user_sessions"
        case .dailyActivity: return "fact_daily_user_activity"
        }
    }

    /// Whether --from/--to select rows (by local date); dimensions of users and actions export whole.
    public var isDated: Bool { self != .users && self != .actions }

    /// Columns: the data model's, then the natural keys that make a row readable without joins.
    public var columns: [ExportColumn] {
        switch self {
        case .users:
            return [
                .init("user_key", .integer, primaryKey: true), .init("user_id", .text),
                .init("registration_date", .date, nullable: true),
                .init("acquisition_channel", .text), .init("user_segment", .text), .init("device_type", .text),
                .init("region", .text),
            ]
        case .actions:
            return [
                .init("action_key", .integer, primaryKey: true), .init("action_type", .text),
                .init("action_category", .text),
                .init("engagement_weight", .integer), .init("is_core_action", .boolean),
            ]
        case .dates:
            return [
                .init("date_key", .integer, primaryKey: true), .init("full_date", .date), .init("year", .integer),
                .init("quarter", .integer),
                .init("month", .integer), .init("day_of_month", .integer), .init("day_of_week", .integer),
                .init("week_of_year", .integer),
                .init("is_weekend", .boolean), .init("day_number", .integer),
            ]
        case .events:
            return [
                .init("action_instance_key", .integer, primaryKey: true), .init("user_key", .integer),
                .init("session_key", .integer),
                .init("action_key", .integer), .init("date_key", .integer), .init("action_timestamp", .timestamp),
                .init("action_context", .text, nullable: true), .init("action_metadata", .json, nullable: true),
                .init("user_id", .text), .init("event_id", .text), .init("action_type", .text), .init("date", .date),
                .init("ts_ms", .integer),
            ]
        case .sessions:
            return [
                .init("session_key", .integer, primaryKey: true), .init("user_key", .integer),
                .init("date_key", .integer),
                .init("session_id", .text), .init("session_start", .timestamp), .init("session_end", .timestamp),
                .init("session_duration_seconds", .integer), .init("actions_count", .integer),
                .init("screens_visited", .integer),
                .init("session_type", .text), .init("user_id", .text), .init("date", .date),
                .init("start_ms", .integer), .init("end_ms", .integer),
            ]
        case .dailyActivity:
            return [
                .init("user_key", .integer, primaryKey: true), .init("date_key", .integer, primaryKey: true),
                .init("sessions_count", .integer),
                .init("total_session_duration", .integer), .init("total_actions", .integer),
                .init("unique_action_types", .integer),
                .init("is_active_day", .boolean), .init("engagement_tier", .text), .init("user_id", .text),
                .init("date", .date),
            ]
        }
    }
}

public struct ExportColumn: Hashable, Sendable {
    /// What a column holds (its values are ``ExportValue``s: dates, timestamps and JSON as text).
    public enum ColumnType: Sendable {
        case integer
        case text
        case boolean
        case date
        case timestamp
        case json
    }

    public var name: String
    public var type: ColumnType
    public var nullable: Bool
    public var primaryKey: Bool

    public init(_ name: String, _ type: ColumnType, nullable: Bool = false, primaryKey: Bool = false) {
        self.name = name
        self.type = type
        self.nullable = nullable
        self.primaryKey = primaryKey
    }
}

/// One exported value.
public enum ExportValue: Hashable, Sendable {
    case integer(Int64)
    case text(String)
    case boolean(Bool)
    case null
}

extension CivilDate {
    /// `YYYYMMDD` as an integer: the data model's `date_key`.
    public var dateKey: Int64 {
        let (year, month, day) = self.components
        return Int64(year * 10000 + month * 100 + day)
    }

    /// ISO 8601 week number (weeks start Monday; week 1 holds the year's first Thursday).
    public var isoWeekOfYear: Int {
        let thursday = self.adding(days: 4 - self.isoWeekday)
        let (year, _, _) = thursday.components
        let january1 = CivilDate(year: year, month: 1, day: 1)!
        return (Int(thursday.dayNumber) - Int(january1.dayNumber)) / 7 + 1
    }
}

/// Commits of a store after a given sequence and what each rewrote, by export unit (PROTOCOL.md 4.28).
public struct ChangeFeedPage: Hashable, Sendable {
    /// The sequence of the store's latest commit (0 before any).
    public var current: UInt64
    /// The lowest sequence the feed still holds (0 when empty): a reader whose checkpoint is below
    /// `oldest - 1` has missed changes and must export everything again.
    public var oldest: UInt64
    /// Ascending by sequence.
    public var changes: [StoreChange]

    public init(current: UInt64, oldest: UInt64, changes: [StoreChange]) {
        self.current = current
        self.oldest = oldest
        self.changes = changes
    }
}

/// What one commit rewrote.
public struct StoreChange: Hashable, Sendable {
    public var sequence: UInt64
    /// The action catalog changed: every day's daily rows and sessions may have changed, and dim_actions.
    public var catalogChanged: Bool
    /// Days whose daily activity rows were written.
    public var dailyDays: [CivilDate]
    /// Days whose sessions (by start day) were written or removed.
    public var sessionDays: [CivilDate]
    /// Days that received raw events.
    public var eventDays: [CivilDate]
    /// Users (user_key) whose dim_users row changed.
    public var userKeys: [UInt32]

    public init(
        sequence: UInt64,
        catalogChanged: Bool,
        dailyDays: [CivilDate],
        sessionDays: [CivilDate],
        eventDays: [CivilDate],
        userKeys: [UInt32]
    ) {
        self.sequence = sequence
        self.catalogChanged = catalogChanged
        self.dailyDays = dailyDays
        self.sessionDays = sessionDays
        self.eventDays = eventDays
        self.userKeys = userKeys
    }
}
