import EngageModel
import EngageStore
import EngageTestSupport
import Foundation
import Testing

/// Random event sets built to hit the edges: ties, gaps of exactly 30:00.000 and 30:00.001, local midnight,
/// the DST changes of America/New_York, re-sent duplicates, core and non-core actions, unknown actions.
enum EventSetGenerator {
    static let coreActions = ["view_feed", "like"]
    static let nonCoreActions = ["login", "settings_open"]
    /// Not in the catalog: auto-registered as core.
    static let unknownAction = "share"
    static let contexts = ["", "home", "feed", "profile", "settings"]

    static func catalog() -> [ActionDefinition] {
        self.coreActions.map {
            ActionDefinition(actionType: $0, category: "c", engagementWeight: 1, isCoreAction: true)
        }
            + self.nonCoreActions.map {
                ActionDefinition(actionType: $0, category: "n", engagementWeight: 0, isCoreAction: false)
            }
    }

    static func isCore(_ action: String) -> Bool { !self.nonCoreActions.contains(action) }

    static func make(seed: UInt64, users: Int = 12, sessionsPerUser: ClosedRange<Int> = 2...7) -> [Event] {
        var random = SeededGenerator(seed: seed)
        // Anchors near the 2026 New York DST changes and plain days, at local midnights and elsewhere.
        let anchors: [Int64] = [
            Timestamp.parseISO8601("2026-03-08T06:40:00Z")!,  // 01:40 EST, 20 minutes before the spring change
            Timestamp.parseISO8601("2025-11-02T05:30:00Z")!,  // 01:30 EDT, before the fall change
            Timestamp.parseISO8601("2026-02-20T04:50:00Z")!,  // 23:50 EST: New York midnight
            Timestamp.parseISO8601("2026-02-27T23:45:00Z")!,  // UTC midnight
            Timestamp.parseISO8601("2026-03-15T12:00:00Z")!,
        ]
        var events: [Event] = []
        for userIndex in 0..<users {
            let user = userIndex == 0 ? "ü-user-\(seed)" : "user-\(userIndex)"
            var counter = 0
            for _ in 0..<Int.random(in: sessionsPerUser, using: &random) {
                var ts =
                    anchors.randomElement(using: &random)! + Int64.random(in: -3...40, using: &random) * 86_400_000
                    + Int64.random(in: -900_000...900_000, using: &random)
                for _ in 0..<Int.random(in: 1...14, using: &random) {
                    counter += 1
                    let action: String
                    switch Int.random(in: 0..<10, using: &random) {
                    case 0..<5: action = self.coreActions.randomElement(using: &random)!
                    case 5..<9: action = self.nonCoreActions.randomElement(using: &random)!
                    default: action = self.unknownAction
                    }
                    events.append(
                        Event(
                            userID: user,
                            eventID: "e-\(counter)",
                            timestampMs: ts,
                            action: action,
                            context: self.contexts.randomElement(using: &random)!,
                            metadata: counter % 5 == 0 ? #"{"n":\#(counter)}"# : ""
                        )
                    )
                    switch Int.random(in: 0..<10, using: &random) {
                    case 0: ts += 0  // a tie
                    case 1: ts += 1_800_000  // exactly the gap: same session
                    case 2: ts += 1_800_001  // one millisecond more: a new session
                    case 3: ts += Int64.random(in: 2...20, using: &random) * 3_600_000
                    default: ts += Int64.random(in: 1...1_799_999, using: &random)
                    }
                }
            }
        }
        // Re-sent duplicates: exact copies.
        for _ in 0..<(events.count / 8) { events.append(events.randomElement(using: &random)!) }
        return events
    }
}

@Suite("Results never depend on arrival order")
struct ArrivalOrderPropertyTests {
    struct Snapshot: Equatable {
        var daily: [String]
        var sessions: [String]
        var activity: [ActivityRow]
        var europe: [ActivityRow]
    }

    /// What only the store computes (no reference): exports with every column, monthly and rolling tiers,
    /// retention and lifecycle. Must be identical whatever the arrival order.
    struct Derived: Equatable {
        var exports: [String]
        var queries: [String]
    }

    static let from = CivilDate("2025-10-01")!
    static let to = CivilDate("2026-12-31")!

    static func snapshot(
        _ events: [Event],
        timeZone: String,
        batchSeed: UInt64,
        concurrent: Bool
    ) async throws -> (Snapshot, Derived) {
        let temporary = try TemporaryStore(timeZone: timeZone)
        let store = temporary.store
        _ = try await store.defineActions(EventSetGenerator.catalog())
        // Every user is known before the events, so user keys (and the exports' surrogate keys) do not
        // depend on arrival order; odd users keep attribute "unknown".
        _ = try await store.upsertUsers(
            (1..<12).map {
                $0 % 2 == 0
                    ? UserProfile(userID: "user-\($0)", attributes: [.region: "eu"]) : UserProfile(userID: "user-\($0)")
            }
        )
        var random = SeededGenerator(seed: batchSeed)
        var batches: [[Event]] = []
        var start = 0
        while start < events.count {
            let size = Int.random(in: 1...40, using: &random)
            batches.append(Array(events[start..<min(start + size, events.count)]))
            start += size
        }
        let allBatches = batches
        if concurrent {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for lane in 0..<4 {
                    group.addTask {
                        for (index, batch) in allBatches.enumerated() where index % 4 == lane {
                            _ = try await store.ingest(batch)
                        }
                    }
                }
                try await group.waitForAll()
            }
        } else {
            for batch in batches { _ = try await store.ingest(batch) }
        }
        _ = try await store.waitApplied()
        var daily: [String] = []
        for row in try store.exportedRows(.dailyActivity, from: Self.from, to: Self.to) {
            daily.append(
                "\(row["user_id"]!)|\(row["date"]!)|\(row["sessions_count"]!)|\(row["total_session_duration"]!)|\(row["total_actions"]!)|"
                    + "\(row["unique_action_types"]!)|\(row["is_active_day"]!)|\(row["engagement_tier"]!)"
            )
        }
        var sessions: [String] = []
        for row in try store.exportedRows(.sessions, from: Self.from, to: Self.to) {
            sessions.append(
                "\(row["user_id"]!)|\(row["start_ms"]!)|\(row["end_ms"]!)|\(row["session_duration_seconds"]!)|\(row["actions_count"]!)|"
                    + "\(row["screens_visited"]!)|\(row["session_type"]!)"
            )
        }
        let europe = try store.activity(
            ActivityQuery(
                from: Self.from,
                to: Self.to,
                filters: [DimensionFilter(dimension: .attribute(.region), values: ["eu"])]
            )
        )
        let report = try store.verify()
        #expect(report.isClean, "verify after ingestion: \(report.issues.prefix(3))")
        var exports: [String] = []
        for table in ExportTable.allCases {
            try store.export(table, from: Self.from, to: Self.to) { exports.append("\(table) \($0)") }
        }
        var queries: [String] = []
        for month in ["2025-11", "2026-02", "2026-03", "2026-04"] {
            queries += try store.tiers(.month(CivilMonth(month)!), Selection(breakdown: .attribute(.region))).map {
                "\($0)"
            }
            queries += try store.transitions(CivilMonth(month)!).map { "\($0)" }
        }
        queries += try store.tiers(.asOf(CivilDate("2026-03-20")!)).map { "\($0)" }
        queries += try store.activeDays(from: Self.from, to: Self.to, Selection(breakdown: .cohort)).map { "\($0)" }
        queries += try store.retention(period: .week, from: Self.from, to: Self.to, periods: 6).map { "\($0)" }
        queries += try store.lifecycle(period: .day, from: CivilDate("2026-02-15")!, to: CivilDate("2026-04-20")!).map {
            "\($0)"
        }
        queries.append("\(try store.sessionSummary(from: Self.from, to: Self.to))")
        return (
            Snapshot(
                daily: daily.sorted(),
                sessions: sessions.sorted(),
                activity: try store.activity(ActivityQuery(from: Self.from, to: Self.to)),
                europe: europe.map { ActivityRow(date: $0.date, dau: $0.dau, wau: $0.wau, mau: $0.mau) }
            ),
            Derived(exports: exports, queries: queries)
        )
    }

    static func reference(_ events: [Event], timeZone: String) throws -> Snapshot {
        let model = ReferenceModel(
            events: events,
            zone: try ReportingTimeZone(identifier: timeZone),
            isCore: EventSetGenerator.isCore
        )
        let daily = model.dailyRecords.map {
            "\($0.userID)|\($0.date)|\($0.sessionsCount)|\($0.sessionSeconds)|\($0.totalActions)|\($0.uniqueActionTypes)|\($0.isActive)|\($0.tier)"
        }
        let sessions = model.sessions.filter { model.day($0.startMs) >= Self.from && model.day($0.startMs) <= Self.to }
            .map {
                "\($0.userID)|\($0.startMs)|\($0.endMs)|\(($0.endMs - $0.startMs) / 1000)|\($0.actions)|\($0.screens)|\($0.type)"
            }
        let europeans = Set((1..<12).filter { $0 % 2 == 0 }.map { "user-\($0)" })
        return Snapshot(
            daily: daily.sorted(),
            sessions: sessions.sorted(),
            activity: model.activity(from: Self.from, to: Self.to),
            europe: model.activity(from: Self.from, to: Self.to, users: europeans)
        )
    }

    @Test(
        "sorted, shuffled three ways and split over concurrent submitters: identical to the reference",
        arguments: [
            (UInt64(1), "UTC"), (UInt64(2), "America/New_York"), (UInt64(3), "America/New_York"), (UInt64(4), "UTC"),
        ]
    )
    func arrivalOrder(seed: UInt64, timeZone: String) async throws {
        // Odd seeds: many light users; even seeds: few heavy ones, whose rolling tiers reach core and power.
        let events =
            seed % 2 == 1
            ? EventSetGenerator.make(seed: seed)
            : EventSetGenerator.make(seed: seed, users: 4, sessionsPerUser: 40...60)
        let expected = try Self.reference(events, timeZone: timeZone)
        #expect(expected.sessions.count > 20)
        if seed % 2 == 0 {
            #expect(expected.daily.contains { $0.hasSuffix("|core") || $0.hasSuffix("|power") })
        }

        let sorted = events.sorted { ($0.timestampMs, $0.userID, $0.eventID) < ($1.timestampMs, $1.userID, $1.eventID) }
        var orders: [(String, [Event], Bool)] = [("sorted", sorted, false)]
        var random = SeededGenerator(seed: seed &* 7919)
        for index in 1...3 { orders.append(("shuffle \(index)", events.shuffled(using: &random), false)) }
        orders.append(("shuffled, 4 concurrent submitters", events.shuffled(using: &random), true))
        var firstDerived: Derived?
        for (name, order, concurrent) in orders {
            let (snapshot, derived) = try await Self.snapshot(
                order,
                timeZone: timeZone,
                batchSeed: seed &+ 17,
                concurrent: concurrent
            )
            if let firstDerived {
                #expect(firstDifference(derived.exports, firstDerived.exports) == nil, "exports, \(name), seed \(seed)")
                #expect(
                    firstDifference(derived.queries, firstDerived.queries) == nil,
                    "tiers/retention/lifecycle, \(name), seed \(seed)"
                )
            } else {
                firstDerived = derived
                #expect(derived.exports.count > 100)
            }
            #expect(firstDifference(snapshot.daily, expected.daily) == nil, "daily records, \(name), seed \(seed)")
            #expect(firstDifference(snapshot.sessions, expected.sessions) == nil, "sessions, \(name), seed \(seed)")
            #expect(firstDifference(snapshot.activity, expected.activity) == nil, "activity, \(name), seed \(seed)")
            #expect(
                firstDifference(snapshot.europe, expected.europe) == nil,
                "activity where region=eu, \(name), seed \(seed)"
            )
        }
    }
}

/// The first position where two lists differ, with both sides, or nil when they are equal.
func firstDifference<Element: Equatable>(_ actual: [Element], _ expected: [Element]) -> String? {
    for index in 0..<max(actual.count, expected.count) {
        let left = index < actual.count ? "\(actual[index])" : "(missing)"
        let right = index < expected.count ? "\(expected[index])" : "(missing)"
        if index >= actual.count || index >= expected.count || actual[index] != expected[index] {
            return "at \(index) of \(actual.count)/\(expected.count): got \(left), expected \(right)"
        }
    }
    return nil
}
