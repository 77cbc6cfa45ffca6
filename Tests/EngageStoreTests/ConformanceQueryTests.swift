import EngageModel
import EngageStore
import EngageTestSupport
import Foundation
import Testing

/// Every query key of the conformance data set, straight from the store (the CLI path is tested end to end
/// in EngageIntegrationTests).
@Suite("Conformance queries, straight from the store")
struct ConformanceQueryTests {
    static let from = CivilDate("2026-01-01")!
    static let to = CivilDate("2026-03-31")!

    static func loaded(_ timeZone: String) async throws -> TemporaryStore {
        let temporary = try TemporaryStore(timeZone: timeZone)
        _ = try await temporary.store.defineActions(Fixtures.actions())
        _ = try await temporary.store.upsertUsers(Fixtures.users())
        _ = try await temporary.ingest(Fixtures.events())
        return temporary
    }

    /// Rows as canonical text: numbers as integers or 6-decimal floats, so both sides print alike.
    static func canonical(_ rows: [[String: Any]], _ keys: [String]) -> [String] {
        rows.map { row in
            keys.map { key in
                switch row[key] {
                case let value as Double where value != value.rounded(): return String(format: "%.6f", value)
                case let value as Double: return String(Int(value))
                case let value as Int: return String(value)
                case let value?: return "\(value)"
                case nil: return "-"
                }
            }.joined(separator: "|")
        }
    }

    /// The value inside an `Optional` held as `Any`, or nil for `.none`.
    static func unwrapped(_ value: Any) -> Any? {
        let mirror = Mirror(reflecting: value)
        guard mirror.displayStyle == .optional else { return value }
        return mirror.children.first?.value
    }

    @Test("active days, tiers, transitions, retention, lifecycle and sessions", arguments: ["UTC", "America/New_York"])
    func everyQueryKey(timeZone: String) async throws {
        let temporary = try await Self.loaded(timeZone)
        let store = temporary.store
        let expected = try Fixtures.expected(timeZone: timeZone)
        func check(
            _ key: String,
            _ actual: [[String: Any]],
            _ keys: [String],
            unfinished: ([String: Any]) -> Bool = { _ in false },
            unknownKeys: [String] = []
        ) {
            // The expected files predate the unfinished-period rule (SEMANTICS.md): where a period ends after
            // the data's last day, the store must say "unknown" (nil) for exactly these values, and only there.
            let wantRows = (expected[key] as! [[String: Any]]).map { row in
                unfinished(row) ? row.filter { !unknownKeys.contains($0.key) } : row
            }
            let want = Self.canonical(wantRows, keys)
            let got = Self.canonical(actual.map { $0.compactMapValues(Self.unwrapped) }, keys)
            #expect(firstDifference(got, want) == nil, "\(key) in \(timeZone)")
        }
        // The data's last local day, from the events file (independently of the store).
        let lastDay = CivilDate(try UnfinishedPeriods.lastDay(timeZone: timeZone))!
        func endsAfterLastDay(_ period: Period, _ start: String) -> Bool {
            period.days(from: CivilDate(start)!).upperBound > lastDay
        }
        for month in ["2026-01", "2026-02", "2026-03"] {
            let m = CivilMonth(month)!
            check(
                "active_days_\(month)",
                try store.activeDays(from: m.firstDay, to: m.lastDay).map {
                    ["active_days": $0.activeDays, "users": $0.users]
                },
                ["active_days", "users"]
            )
            check(
                "tiers_month_\(month)",
                try store.tiers(.month(m)).map {
                    [
                        "tier": $0.tier, "users": $0.users, "avg_daily_sessions": $0.averageDailySessions,
                        "avg_daily_actions": $0.averageDailyActions,
                    ]
                },
                ["tier", "users", "avg_daily_sessions", "avg_daily_actions"]
            )
        }
        for day in ["2026-03-31", "2026-02-19"] {
            check(
                "tiers_asof_\(day)",
                try store.tiers(.asOf(CivilDate(day)!)).map {
                    [
                        "tier": $0.tier, "users": $0.users, "avg_daily_sessions": $0.averageDailySessions,
                        "avg_daily_actions": $0.averageDailyActions,
                    ]
                },
                ["tier", "users", "avg_daily_sessions", "avg_daily_actions"]
            )
        }
        for month in ["2026-01", "2026-02"] {
            check(
                "transitions_\(month)",
                try store.transitions(CivilMonth(month)!).map {
                    ["from_tier": $0.fromTier, "to_tier": $0.toTier, "users": $0.users]
                },
                ["from_tier", "to_tier", "users"]
            )
        }
        for (key, period, periods) in [("retention_month", Period.month, 3), ("retention_week", Period.week, 8)] {
            check(
                key,
                try store.retention(period: period, from: Self.from, to: Self.to, periods: periods).map {
                    [
                        "cohort": $0.cohort.description, "cohort_size": $0.cohortSize, "period_offset": $0.periodOffset,
                        "retained": $0.retained as Any, "rate": $0.rate as Any,
                    ]
                },
                ["cohort", "cohort_size", "period_offset", "retained", "rate"],
                unfinished: {
                    endsAfterLastDay(
                        period,
                        period.advance(CivilDate($0["cohort"] as! String)!, by: $0["period_offset"] as! Int).description
                    )
                },
                unknownKeys: ["retained", "rate"]
            )
        }
        check(
            "lifecycle_week",
            try store.lifecycle(period: .week, from: Self.from, to: Self.to).map {
                [
                    "period": $0.period.description, "new": $0.new as Any, "returning": $0.returning as Any,
                    "resurrecting": $0.resurrecting as Any, "dormant": $0.dormant as Any,
                ]
            },
            ["period", "new", "returning", "resurrecting", "dormant"],
            unfinished: { endsAfterLastDay(.week, $0["period"] as! String) },
            unknownKeys: ["new", "returning", "resurrecting", "dormant"]
        )
        let summary = try store.sessionSummary(from: Self.from, to: Self.to)
        check(
            "sessions",
            [
                [
                    "sessions": summary.sessions, "users": summary.users,
                    "avg_duration_seconds": summary.averageDurationSeconds,
                    "p50_duration_seconds": summary.p50DurationSeconds,
                    "p90_duration_seconds": summary.p90DurationSeconds,
                    "avg_actions": summary.averageActions, "bounce_rate": summary.bounceRate,
                ]
            ],
            [
                "sessions", "users", "avg_duration_seconds", "p50_duration_seconds", "p90_duration_seconds",
                "avg_actions", "bounce_rate",
            ]
        )
    }
}
