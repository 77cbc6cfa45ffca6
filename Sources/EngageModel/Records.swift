/// One user action as clients send it.
public struct Event: Hashable, Sendable {
    public var userID: String
    public var eventID: String
    /// Milliseconds since 1970-01-01T00:00:00Z.
    public var timestampMs: Int64
    public var action: String
    /// The screen or feature the action happened in; empty for none.
    public var context: String
    /// A serialized JSON object (at most 4 KiB), or empty.
    public var metadata: String

    public init(
        userID: String,
        eventID: String,
        timestampMs: Int64,
        action: String,
        context: String = "",
        metadata: String = ""
    ) {
        self.userID = userID
        self.eventID = eventID
        self.timestampMs = timestampMs
        self.action = action
        self.context = context
        self.metadata = metadata
    }
}

/// A user's profile. Attributes left nil keep their current value (last write wins per attribute).
public struct UserProfile: Hashable, Sendable {
    public var userID: String
    public var registrationDate: CivilDate?
    public var attributes: [Attribute: String]

    public init(userID: String, registrationDate: CivilDate? = nil, attributes: [Attribute: String] = [:]) {
        self.userID = userID
        self.registrationDate = registrationDate
        self.attributes = attributes
    }
}

/// An entry of the action catalog.
public struct ActionDefinition: Hashable, Sendable {
    public var actionType: String
    public var category: String
    public var engagementWeight: Int32
    public var isCoreAction: Bool

    public init(actionType: String, category: String, engagementWeight: Int32, isCoreAction: Bool) {
        self.actionType = actionType
        self.category = category
        self.engagementWeight = engagementWeight
        self.isCoreAction = isCoreAction
    }

    /// Category of an action type first seen in an event.
    public static let autoRegisteredCategory = "uncategorized"
}

/// The outcome of one batch of events, users or actions.
public struct BatchResult: Hashable, Sendable {
    /// Items stored (new events; users or actions created or updated).
    public var accepted: Int
    /// Events whose (user, event id) was already stored; always 0 for users and actions.
    public var duplicates: Int
    public var rejected: [Rejection]

    public init(accepted: Int = 0, duplicates: Int = 0, rejected: [Rejection] = []) {
        self.accepted = accepted
        self.duplicates = duplicates
        self.rejected = rejected
    }
}

/// One day of an activity series.
public struct ActivityRow: Hashable, Sendable {
    /// The breakdown value, or nil without a breakdown.
    public var group: String?
    public var date: CivilDate
    /// nil: unknown, the day is after the store's last day (SEMANTICS.md, "Unfinished periods").
    public var dau: Int?
    public var wau: Int?
    public var mau: Int?

    public init(group: String? = nil, date: CivilDate, dau: Int?, wau: Int?, mau: Int?) {
        self.group = group
        self.date = date
        self.dau = dau
        self.wau = wau
        self.mau = mau
    }

    /// dau / mau, 0 when mau is 0; nil when unknown.
    public var dauOverMau: Double? { Ratio.of(self.dau, self.mau) }
    /// dau / wau, 0 when wau is 0; nil when unknown.
    public var dauOverWau: Double? { Ratio.of(self.dau, self.wau) }
}

/// Ratios as the contract defines them: 0 when the divisor is 0, unknown when either side is.
public enum Ratio {
    public static func of(_ numerator: Int?, _ denominator: Int?) -> Double? {
        guard let numerator, let denominator else { return nil }
        return denominator == 0 ? 0 : Double(numerator) / Double(denominator)
    }
}

/// Parameters of an activity query.
public struct ActivityQuery: Hashable, Sendable {
    public var from: CivilDate
    public var to: CivilDate
    public var filters: [DimensionFilter]
    public var breakdown: Dimension?

    public init(from: CivilDate, to: CivilDate, filters: [DimensionFilter] = [], breakdown: Dimension? = nil) {
        self.from = from
        self.to = to
        self.filters = filters
        self.breakdown = breakdown
    }
}

/// What a store holds.
public struct StoreStats: Hashable, Sendable {
    /// Unique events stored.
    public var events: Int
    /// Duplicates received and dropped since the store was created.
    public var duplicates: Int
    public var users: Int
    public var actions: Int
    /// Distinct local days with at least one event.
    public var days: Int
    /// Size of the data file on disk.
    public var bytesOnDisk: Int
    /// The data directory's reporting time zone.
    public var timeZone: String
    public var firstDay: CivilDate?
    public var lastDay: CivilDate?

    public init(
        events: Int,
        duplicates: Int,
        users: Int,
        actions: Int,
        days: Int,
        bytesOnDisk: Int,
        timeZone: String,
        firstDay: CivilDate?,
        lastDay: CivilDate?
    ) {
        self.events = events
        self.duplicates = duplicates
        self.users = users
        self.actions = actions
        self.days = days
        self.bytesOnDisk = bytesOnDisk
        self.timeZone = timeZone
        self.firstDay = firstDay
        self.lastDay = lastDay
    }
}
