import EngageModel
import EngageStore
import Foundation
import Testing

@Suite("Conformance data set, straight into the store")
struct ConformanceStoreTests {
    @Test("activity, daily records and sessions match the contract", arguments: ["UTC", "America/New_York"])
    func conformance(timeZone: String) async throws {
        let expected = try Fixtures.expected(timeZone: timeZone)
        let temporary = try TemporaryStore(timeZone: timeZone)
        let store = temporary.store
        #expect(try await store.defineActions(Fixtures.actions()).accepted == 8)
        #expect(try await store.upsertUsers(Fixtures.users()).accepted == 119)
        let events = try Fixtures.events()
        let result = try await temporary.ingest(events)
        let counts = (expected["_params"] as! [String: Any])["counts"] as! [String: Int]
        #expect(result.accepted == counts["unique_events"])
        #expect(result.duplicates == counts["raw_events"]! - counts["unique_events"]!)
        #expect(result.rejected.isEmpty)
        let stats = try store.stats()
        #expect(stats.events == counts["unique_events"])
        #expect(stats.users == counts["users"])

        let from = CivilDate("2026-01-01")!
        let to = CivilDate("2026-03-31")!
        try Self.compareActivity(store.activity(ActivityQuery(from: from, to: to)), expected["activity"])
        try Self.compareActivity(
            store.activity(
                ActivityQuery(
                    from: from,
                    to: to,
                    filters: [DimensionFilter(dimension: .attribute(.acquisitionChannel), values: ["paid_search"])]
                )
            ),
            expected["activity_paid_search"]
        )
        try Self.compareActivity(
            store.activity(ActivityQuery(from: from, to: to, breakdown: .attribute(.region))),
            expected["activity_by_region"]
        )

        var daily: [String] = []
        for row in try store.exportedRows(.dailyActivity, from: from, to: to) {
            daily.append(
                "\(row["user_id"]!)|\(row["date"]!)|\(row["sessions_count"]!)|\(row["total_session_duration"]!)|\(row["total_actions"]!)|"
                    + "\(row["unique_action_types"]!)|\(row["is_active_day"]!)|\(row["engagement_tier"]!)"
            )
        }
        let expectedDaily = (expected["daily_activity"] as! [[String: Any]]).map { row in
            "\(row["user_id"]!)|\(row["date"]!)|\(row["sessions_count"]!)|\(row["total_session_duration"]!)|"
                + "\(row["total_actions"]!)|\(row["unique_action_types"]!)|\(row["is_active_day"] as! Bool)|\(row["engagement_tier"]!)"
        }
        #expect(daily.count == expectedDaily.count && daily.count > 1700)
        #expect(daily.sorted() == expectedDaily.sorted())

        var sessions: [String] = []
        for row in try store.exportedRows(.sessions, from: from, to: to) {
            sessions.append(
                "\(row["user_id"]!)|\(row["start_ms"]!)|\(row["end_ms"]!)|\(row["session_duration_seconds"]!)|\(row["actions_count"]!)|"
                    + "\(row["screens_visited"]!)|\(row["session_type"]!)"
            )
        }
        let expectedSessions = (expected["sessions_table"] as! [[String: Any]]).map { row in
            "\(row["user_id"]!)|\(row["start_ms"]!)|\(row["end_ms"]!)|\(row["session_duration_seconds"]!)|"
                + "\(row["actions_count"]!)|\(row["screens_visited"]!)|\(row["session_type"]!)"
        }
        #expect(sessions.count == expectedSessions.count && sessions.count > 3600)
        #expect(sessions.sorted() == expectedSessions.sorted())
    }

    static func compareActivity(_ rows: [ActivityRow], _ expected: Any?) throws {
        let expectedRows = try #require(expected as? [[String: Any]])
        #expect(rows.count == expectedRows.count)
        for (row, want) in zip(rows, expectedRows) {
            let line = "\(row.group ?? "-") \(row.date)"
            #expect(row.date.description == want["date"] as? String, "\(line)")
            #expect(row.group == want["group"] as? String, "\(line)")
            #expect(row.dau == want["dau"] as? Int, "\(line)")
            #expect(row.wau == want["wau"] as? Int, "\(line)")
            #expect(row.mau == want["mau"] as? Int, "\(line)")
            #expect(row.dauOverMau?.rounded6 == (want["dau_mau"] as! Double), "\(line)")
            #expect(row.dauOverWau?.rounded6 == (want["dau_wau"] as! Double), "\(line)")
        }
    }
}
