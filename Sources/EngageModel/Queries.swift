/// A calendar period: a day, a week starting Monday, or a calendar month. Labelled by its first day.
public enum Period: String, CaseIterable, Sendable, Hashable {
    case day, week, month

    /// The first day of the period containing `date`.
    public func start(of date: CivilDate) -> CivilDate {
        switch self {
        case .day: return date
        case .week: return date.startOfWeek
        case .month: return date.startOfMonth
        }
    }

    /// The first day of the period `count` periods after the one starting at `start`.
    public func advance(_ start: CivilDate, by count: Int) -> CivilDate {
        switch self {
        case .day: return start.adding(days: count)
        case .week: return start.adding(days: 7 * count)
        case .month: return start.addingMonths(count)
        }
    }

    /// The days of the period starting at `start`.
    public func days(from start: CivilDate) -> ClosedRange<CivilDate> {
        start...self.advance(start, by: 1).adding(days: -1)
    }

    /// Starts of every period that overlaps [from, to], in order.
    public func starts(overlapping from: CivilDate, _ to: CivilDate) -> [CivilDate] {
        var result: [CivilDate] = []
        var current = self.start(of: from)
        while current <= to {
            result.append(current)
            current = self.advance(current, by: 1)
        }
        return result
    }
}

/// A window of days, or a calendar month, for distributions and tiers.
public enum TierWindow: Hashable, Sendable {
    /// The days of a calendar month.
    case month(CivilMonth)
    /// The rolling window [day - 29, day].
    case asOf(CivilDate)

    public var days: ClosedRange<CivilDate> {
        switch self {
        case .month(let month): return month.firstDay...month.lastDay
        case .asOf(let day): return day.adding(days: -29)...day
        }
    }
}

/// Common shape of the filtered queries: which users, and an optional breakdown.
public struct Selection: Hashable, Sendable {
    public var filters: [DimensionFilter]
    public var breakdown: Dimension?

    public init(filters: [DimensionFilter] = [], breakdown: Dimension? = nil) {
        self.filters = filters
        self.breakdown = breakdown
    }
}

/// Users with exactly `activeDays` active days in the window.
public struct ActiveDaysRow: Hashable, Sendable {
    public var group: String?
    public var activeDays: Int
    public var users: Int

    public init(group: String?, activeDays: Int, users: Int) {
        self.group = group
        self.activeDays = activeDays
        self.users = users
    }
}

/// A tier's users over a window, with the sums behind its averages (exact integers; averages derived).
public struct TierRow: Hashable, Sendable {
    public var group: String?
    public var tier: Tier
    public var users: Int
    /// Daily records of those users inside the window, and their sessions and actions.
    public var records: Int
    public var sessions: Int
    public var actions: Int

    public init(group: String?, tier: Tier, users: Int, records: Int, sessions: Int, actions: Int) {
        self.group = group
        self.tier = tier
        self.users = users
        self.records = records
        self.sessions = sessions
        self.actions = actions
    }

    public var averageDailySessions: Double { self.records == 0 ? 0 : Double(self.sessions) / Double(self.records) }
    public var averageDailyActions: Double { self.records == 0 ? 0 : Double(self.actions) / Double(self.records) }
}

public struct TransitionRow: Hashable, Sendable {
    public var fromTier: Tier
    public var toTier: Tier
    public var users: Int

    public init(fromTier: Tier, toTier: Tier, users: Int) {
        self.fromTier = fromTier
        self.toTier = toTier
        self.users = users
    }
}

public struct RetentionRow: Hashable, Sendable {
    public var group: String?
    /// First day of the cohort's registration period.
    public var cohort: CivilDate
    public var cohortSize: Int
    public var periodOffset: Int
    /// nil: unknown, the offset's period ends after the store's last day.
    public var retained: Int?

    public init(group: String?, cohort: CivilDate, cohortSize: Int, periodOffset: Int, retained: Int?) {
        self.group = group
        self.cohort = cohort
        self.cohortSize = cohortSize
        self.periodOffset = periodOffset
        self.retained = retained
    }

    /// retained / cohort_size; nil when unknown.
    public var rate: Double? { Ratio.of(self.retained, self.cohortSize) }
}

/// One period of the lifecycle. Every count is nil when the period ends after the store's last day.
public struct LifecycleRow: Hashable, Sendable {
    public var period: CivilDate
    public var new: Int?
    public var returning: Int?
    public var resurrecting: Int?
    public var dormant: Int?

    public init(period: CivilDate, new: Int?, returning: Int?, resurrecting: Int?, dormant: Int?) {
        self.period = period
        self.new = new
        self.returning = returning
        self.resurrecting = resurrecting
        self.dormant = dormant
    }

    /// A period whose numbers are not known yet.
    public static func unfinished(_ period: CivilDate) -> LifecycleRow {
        LifecycleRow(period: period, new: nil, returning: nil, resurrecting: nil, dormant: nil)
    }

    public var isComplete: Bool { self.new != nil }
}

/// A value of a dimension and the users holding it (`cohort`: a registration month).
public struct DimensionValueRow: Hashable, Sendable {
    public var value: String
    public var users: Int

    public init(value: String, users: Int) {
        self.value = value
        self.users = users
    }
}

/// Sessions starting in a range: counts and exact sums; averages and rates derived.
public struct SessionSummary: Hashable, Sendable {
    public var sessions: Int
    public var users: Int
    public var totalDurationSeconds: Int
    public var totalActions: Int
    public var bounces: Int
    /// Nearest rank: the ceil(q * n)-th smallest duration; 0 without sessions.
    public var p50DurationSeconds: Int
    public var p90DurationSeconds: Int

    public init(
        sessions: Int,
        users: Int,
        totalDurationSeconds: Int,
        totalActions: Int,
        bounces: Int,
        p50DurationSeconds: Int,
        p90DurationSeconds: Int
    ) {
        self.sessions = sessions
        self.users = users
        self.totalDurationSeconds = totalDurationSeconds
        self.totalActions = totalActions
        self.bounces = bounces
        self.p50DurationSeconds = p50DurationSeconds
        self.p90DurationSeconds = p90DurationSeconds
    }

    public var averageDurationSeconds: Double {
        self.sessions == 0 ? 0 : Double(self.totalDurationSeconds) / Double(self.sessions)
    }
    public var averageActions: Double { self.sessions == 0 ? 0 : Double(self.totalActions) / Double(self.sessions) }
    public var bounceRate: Double { self.sessions == 0 ? 0 : Double(self.bounces) / Double(self.sessions) }
}

/// A user who was regular or better a week ago and has not been active since (churn early warning).
public struct AtRiskRow: Hashable, Sendable {
    public var userID: String
    /// Rolling tier as of seven days before the as-of day.
    public var tierBefore: Tier
    /// Active days and their actions in that earlier window.
    public var activeDays: Int
    public var actions: Int
    public var lastActiveDay: CivilDate

    public init(userID: String, tierBefore: Tier, activeDays: Int, actions: Int, lastActiveDay: CivilDate) {
        self.userID = userID
        self.tierBefore = tierBefore
        self.activeDays = activeDays
        self.actions = actions
        self.lastActiveDay = lastActiveDay
    }
}

/// Events and distinct users of an action type, or of a whole category (`actionType` nil).
public struct ActionUsageRow: Hashable, Sendable {
    public var category: String
    public var actionType: String?
    public var isCoreAction: Bool?
    public var events: Int
    public var users: Int

    public init(category: String, actionType: String?, isCoreAction: Bool?, events: Int, users: Int) {
        self.category = category
        self.actionType = actionType
        self.isCoreAction = isCoreAction
        self.events = events
        self.users = users
    }
}

/// Everything about one user.
public struct UserDetail: Hashable, Sendable {
    public struct Day: Hashable, Sendable {
        public var date: CivilDate
        public var sessionsCount: Int
        public var totalSessionDuration: Int
        public var totalActions: Int
        public var uniqueActionTypes: Int
        public var isActiveDay: Bool
        public var engagementTier: Tier

        public init(
            date: CivilDate,
            sessionsCount: Int,
            totalSessionDuration: Int,
            totalActions: Int,
            uniqueActionTypes: Int,
            isActiveDay: Bool,
            engagementTier: Tier
        ) {
            self.date = date
            self.sessionsCount = sessionsCount
            self.totalSessionDuration = totalSessionDuration
            self.totalActions = totalActions
            self.uniqueActionTypes = uniqueActionTypes
            self.isActiveDay = isActiveDay
            self.engagementTier = engagementTier
        }
    }

    public struct Session: Hashable, Sendable {
        public var startMs: Int64
        public var endMs: Int64
        public var actionsCount: Int
        public var screensVisited: Int
        public var sessionType: SessionType

        public init(startMs: Int64, endMs: Int64, actionsCount: Int, screensVisited: Int, sessionType: SessionType) {
            self.startMs = startMs
            self.endMs = endMs
            self.actionsCount = actionsCount
            self.screensVisited = screensVisited
            self.sessionType = sessionType
        }

        public var durationSeconds: Int { Int((self.endMs - self.startMs) / 1000) }
    }

    public var profile: UserProfile
    /// Rolling tier as of `asOf` (the server's current local date).
    public var currentTier: Tier
    public var asOf: CivilDate
    public var days: [Day]
    public var sessions: [Session]

    public init(profile: UserProfile, currentTier: Tier, asOf: CivilDate, days: [Day], sessions: [Session]) {
        self.profile = profile
        self.currentTier = currentTier
        self.asOf = asOf
        self.days = days
        self.sessions = sessions
    }
}
