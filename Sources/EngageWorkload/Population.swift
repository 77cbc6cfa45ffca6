import EngageModel

/// A deterministic pseudo-random generator (SplitMix64): the same seed gives the same population, the same
/// events and the same event ids.
public struct WorkloadRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { self.state = seed ^ 0x5DEE_CE66_D1CE_4E5B }

    public mutating func next() -> UInt64 {
        self.state &+= 0x9e37_79b9_7f4a_7c15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    public mutating func unit() -> Double { Double(self.next() >> 11) * 0x1.0p-53 }

    /// Exponential with the given mean.
    public mutating func exponential(mean: Double) -> Double { -mean * log1pNegative(self.unit()) }

    /// Pareto-like heavy tail: 1 / u^(1/alpha), at least 1.
    public mutating func pareto(alpha: Double) -> Double { pow(1 - self.unit(), -1 / alpha) }

    public mutating func pick<T>(_ items: [(T, Double)]) -> T {
        let total = items.reduce(0) { $0 + $1.1 }
        var target = self.unit() * total
        for (item, weight) in items {
            target -= weight
            if target < 0 { return item }
        }
        return items[items.count - 1].0
    }
}

@inline(__always) func log1pNegative(_ u: Double) -> Double { log(1 - u) }

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One simulated user.
public struct SimulatedUser: Sendable {
    public var id: String
    public var profile: UserProfile
    /// Chance of being active on a given day.
    public var dailyActivity: Double
    /// Mean sessions on an active day and mean events per session.
    public var sessionsPerDay: Double
    public var eventsPerSession: Double
    /// Local hour around which the user tends to be active.
    public var preferredHour: Double
    /// First simulated day the user exists on.
    public var firstDay: Int
}

/// A population of users with heavy-tailed activity: most are casual, a few are very active.
public struct Population: Sendable {
    public let users: [SimulatedUser]
    public let seed: UInt64

    public static let channels: [(String, Double)] = [
        ("organic", 40), ("paid_search", 20), ("social", 15), ("referral", 15), ("email", 10),
    ]
    public static let segments: [(String, Double)] = [("free", 70), ("pro", 25), ("enterprise", 5)]
    public static let devices: [(String, Double)] = [("ios", 40), ("android", 40), ("web", 20)]
    public static let regions: [(String, Double)] = [("na", 35), ("eu", 30), ("apac", 20), ("latam", 15)]

    /// `days` simulated days; users register over the first half of them. `activityScale` multiplies the
    /// chance of being active on a day (sparser or busier populations with the same shape).
    public init(users count: Int, days: Int, seed: UInt64, activityScale: Double = 1) {
        var random = WorkloadRandom(seed: seed)
        var users: [SimulatedUser] = []
        users.reserveCapacity(count)
        for index in 0..<count {
            let heaviness = min(random.pareto(alpha: 1.6), 40)
            let firstDay = Int(random.unit() * Double(max(1, days / 2)))
            let id = "user-\(seed)-\(index)"
            users.append(
                SimulatedUser(
                    id: id,
                    profile: UserProfile(
                        userID: id,
                        attributes: [
                            .acquisitionChannel: random.pick(Self.channels), .userSegment: random.pick(Self.segments),
                            .deviceType: random.pick(Self.devices), .region: random.pick(Self.regions),
                        ]
                    ),
                    dailyActivity: min(0.95, 0.04 * heaviness * activityScale),
                    sessionsPerDay: 1 + min(6, heaviness / 6),
                    eventsPerSession: 2 + min(30, heaviness),
                    preferredHour: 7 + random.unit() * 15,
                    firstDay: firstDay
                )
            )
        }
        self.users = users
        self.seed = seed
    }

    /// Expected events per simulated day once everyone is registered.
    public var expectedEventsPerDay: Double {
        self.users.reduce(0) { $0 + $1.dailyActivity * $1.sessionsPerDay * $1.eventsPerSession }
    }
}
