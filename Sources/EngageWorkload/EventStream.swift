import EngageModel

/// Actions of the simulated product: core and non-core, with their share of events.
public enum SimulatedCatalog {
    public static let actions: [ActionDefinition] = [
        ActionDefinition(
            actionType: "view_feed",
            category: "content_consumption",
            engagementWeight: 1,
            isCoreAction: true
        ),
        ActionDefinition(
            actionType: "search",
            category: "content_consumption",
            engagementWeight: 1,
            isCoreAction: true
        ),
        ActionDefinition(actionType: "like", category: "social_interaction", engagementWeight: 2, isCoreAction: true),
        ActionDefinition(
            actionType: "comment",
            category: "social_interaction",
            engagementWeight: 3,
            isCoreAction: true
        ),
        ActionDefinition(actionType: "share", category: "social_interaction", engagementWeight: 3, isCoreAction: true),
        ActionDefinition(
            actionType: "post_create",
            category: "content_creation",
            engagementWeight: 5,
            isCoreAction: true
        ),
        ActionDefinition(actionType: "login", category: "session", engagementWeight: 0, isCoreAction: false),
        ActionDefinition(actionType: "settings_open", category: "account", engagementWeight: 0, isCoreAction: false),
        ActionDefinition(
            actionType: "notification_open",
            category: "notification",
            engagementWeight: 0,
            isCoreAction: false
        ),
    ]

    static let weights: [(String, Double)] = [
        ("view_feed", 38), ("search", 10), ("like", 24), ("comment", 7), ("share", 4), ("post_create", 3),
        ("settings_open", 2),
        ("notification_open", 5),
    ]

    static let contexts: [(String, Double)] = [
        ("home", 30), ("feed", 35), ("profile", 12), ("search", 10), ("settings", 3), ("", 10),
    ]
}

/// What to generate.
public struct WorkloadConfiguration: Sendable {
    public var users: Int
    public var events: Int
    public var seed: UInt64
    /// Share of events delivered late (after events up to a few hours newer than them).
    public var lateShare: Double
    /// Share of events sent twice.
    public var duplicateShare: Double
    /// The simulated timeline ends this many milliseconds since 1970.
    public var endMs: Int64
    /// Simulated days; nil: as many as the population's natural activity needs to produce `events`.
    /// Given, activity is scaled so that the events spread over that many days.
    public var days: Int?

    public init(
        users: Int,
        events: Int,
        seed: UInt64 = 1,
        lateShare: Double = 0.02,
        duplicateShare: Double = 0.01,
        endMs: Int64,
        days: Int? = nil
    ) {
        self.users = users
        self.events = events
        self.seed = seed
        self.lateShare = lateShare
        self.duplicateShare = duplicateShare
        self.endMs = endMs
        self.days = days
    }
}

/// Generates a time-ordered stream of events for a population, day by day, with a daily rhythm, sessions
/// separated by more than 30 minutes, late and duplicate events. Deterministic for a seed: the same seed
/// gives the same events and event ids. Holds one simulated day in memory.
public struct EventStream: Sequence, IteratorProtocol {
    public let configuration: WorkloadConfiguration
    public let population: Population
    /// Simulated days, chosen so that the population produces about `events` events.
    public let days: Int
    public let startMs: Int64
    private var random: WorkloadRandom
    private var day = 0
    private var buffer: [Event] = []
    private var position = 0
    private var emitted = 0
    private var late: [Event] = []
    private var counters: [Int]

    public init(_ configuration: WorkloadConfiguration) {
        // Size the timeline from the population's natural volume, or scale activity to fill the days asked for.
        let probe = Population(users: configuration.users, days: configuration.days ?? 60, seed: configuration.seed)
        let perUserDay = Swift.max(0.001, Self.eventsPerUserDay(probe, seed: configuration.seed))
        let days: Int
        let scale: Double
        if let requested = configuration.days {
            days = Swift.max(1, requested)
            let userDays = probe.users.reduce(0.0) { $0 + Double(Swift.max(0, days - $1.firstDay)) }
            scale = Double(configuration.events) / Swift.max(1, perUserDay * userDays)
        } else {
            // Users register over the first half of the timeline: on average three quarters are present. A
            // margin makes sure the events run out before the days do (the timeline then ends a little early).
            let needed = Double(configuration.events) / (perUserDay * 0.75 * Double(configuration.users))
            days = Swift.max(1, Swift.min(3000, Int((needed * 1.2).rounded(.up))))
            scale = 1
        }
        self.configuration = configuration
        self.population = Population(
            users: configuration.users,
            days: days,
            seed: configuration.seed,
            activityScale: scale
        )
        self.days = days
        let dayMs: Int64 = 86_400_000
        self.startMs = (configuration.endMs / dayMs - Int64(days)) * dayMs
        self.random = WorkloadRandom(seed: configuration.seed &* 31 &+ 7)
        self.counters = Array(repeating: 0, count: configuration.users)
    }

    /// Mean events per user and day, measured by simulating a sample of users for a few days.
    static func eventsPerUserDay(_ population: Population, seed: UInt64) -> Double {
        var random = WorkloadRandom(seed: seed &+ 99)
        let sample = population.users.prefix(4000)
        var events = 0
        for _ in 0..<5 {
            for user in sample where random.unit() < user.dailyActivity {
                let sessions = Swift.max(1, Int(random.exponential(mean: user.sessionsPerDay).rounded()))
                for _ in 0..<sessions {
                    events += Swift.max(1, Int(random.exponential(mean: user.eventsPerSession).rounded()))
                }
            }
        }
        return Double(events) / Double(Swift.max(1, sample.count * 5))
    }

    public mutating func next() -> Event? {
        while self.position >= self.buffer.count {
            guard self.emitted < self.configuration.events, self.day < self.days else {
                // Flush late events still held back.
                if !self.late.isEmpty, self.emitted < self.configuration.events {
                    self.emitted += 1
                    return self.late.removeLast()
                }
                return nil
            }
            self.generateDay()
        }
        guard self.emitted < self.configuration.events else { return nil }
        self.emitted += 1
        let event = self.buffer[self.position]
        self.position += 1
        return event
    }

    private mutating func generateDay() {
        let dayStart = self.startMs + Int64(self.day) * 86_400_000
        var events: [Event] = []
        for (index, user) in self.population.users.enumerated() where user.firstDay <= self.day {
            guard self.random.unit() < user.dailyActivity else { continue }
            let sessions = Swift.max(1, Int(self.random.exponential(mean: user.sessionsPerDay).rounded()))
            var cursor = dayStart + Int64((user.preferredHour - 2 + self.random.unit() * 4) * 3_600_000)
            for _ in 0..<sessions {
                let count = Swift.max(1, Int(self.random.exponential(mean: user.eventsPerSession).rounded()))
                for position in 0..<count {
                    let action =
                        position == 0 && self.random.unit() < 0.3 ? "login" : self.random.pick(SimulatedCatalog.weights)
                    self.counters[index] += 1
                    events.append(
                        Event(
                            userID: user.id,
                            eventID: "e\(self.configuration.seed)-\(index)-\(self.counters[index])",
                            timestampMs: Swift.min(cursor, dayStart + 86_399_999),
                            action: action,
                            context: self.random.pick(SimulatedCatalog.contexts)
                        )
                    )
                    cursor += Int64(1000 + self.random.exponential(mean: 45_000))
                }
                // The next session starts well after this one ends.
                cursor += Int64(1_800_001 + self.random.exponential(mean: 3 * 3_600_000))
            }
        }
        events.sort { $0.timestampMs < $1.timestampMs }
        // Late events: held back and released a little later in the stream; duplicates: sent again.
        var output: [Event] = []
        output.reserveCapacity(events.count + self.late.count)
        for event in events {
            if self.random.unit() < self.configuration.lateShare {
                self.late.append(event)
            } else {
                output.append(event)
            }
            if !self.late.isEmpty && self.random.unit() < self.configuration.lateShare {
                output.append(self.late.removeFirst())
            }
            if self.random.unit() < self.configuration.duplicateShare {
                output.append(event)
            }
        }
        self.buffer = output
        self.position = 0
        self.day += 1
    }
}
