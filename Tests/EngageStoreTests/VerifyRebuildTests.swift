import EngageModel
import EngageStore
import EngageTestSupport
import Foundation
import LMDB
import Testing

@Suite("Verify, rebuild and catalog changes")
struct VerifyRebuildTests {
    @Test("a store built by ingestion verifies clean; a damaged record is reported, and rebuild repairs it")
    func verifyAndRebuild() async throws {
        let directory = NSTemporaryDirectory() + "engage-verify-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let configuration = StoreConfiguration.forTests(path: directory)
        do {
            let store = try EngageStore.running(configuration: configuration)
            _ = try await store.defineActions(Fixtures.actions())
            _ = try await store.upsertUsers(Fixtures.users())
            _ = try await store.ingest(Fixtures.events())
            let report = try store.verify()
            #expect(report.isClean, "\(report.issues.prefix(5))")
            #expect((report.checked["daily"] ?? 0) > 1800)
            #expect((report.checked["sessions"] ?? 0) > 3600)
            store.close()
        }
        // Damage two derived records behind the store's back: a session's end and a day's action counts.
        do {
            let environment = try Environment(path: directory, options: .init(mapSize: 64 << 20, maxDatabases: 64))
            let daily = try environment.openDatabase("daily", flags: [])
            let sessions = try environment.openDatabase("sessions", flags: [])
            try environment.write { txn in
                try txn.withCursor(daily) { cursor in
                    let entry = try #require(try cursor.first())
                    let key = Array(entry.key)
                    var value = Array(entry.value)
                    value[2] &+= 1  // the first action's count
                    try txn.put(daily, key: key, value: value)
                }
                try txn.withCursor(sessions) { cursor in
                    let entry = try #require(try cursor.last())
                    try txn.delete(sessions, key: Array(entry.key))
                }
            }
        }
        let store = try EngageStore.running(configuration: configuration)
        defer { store.close() }
        let damaged = try store.verify()
        #expect(damaged.totalIssues >= 2)
        // The differing fields are named in words, the action by its type.
        let daily = try #require(damaged.issues.first { $0.table == "daily" })
        #expect(
            daily.detail.contains("total_actions stored")
                && daily.detail.range(of: #"'[a-z_]+' events stored \d+, recomputed \d+"#, options: .regularExpression)
                    != nil,
            "\(daily.detail)"
        )
        #expect(damaged.issues.contains { $0.table == "sessions" && $0.detail.hasPrefix("missing") })
        try await store.rebuildDerivedRecords()
        let repaired = try store.verify()
        #expect(repaired.isClean, "\(repaired.issues.prefix(5))")
    }

    /// Everything a query can show, as text.
    static func everything(_ store: EngageStore) throws -> [String] {
        let from = CivilDate("2026-01-01")!
        let to = CivilDate("2026-03-31")!
        var lines: [String] = []
        lines += try store.activity(ActivityQuery(from: from, to: to, breakdown: .attribute(.region))).map { "\($0)" }
        lines += try store.activeDays(from: from, to: to).map { "\($0)" }
        lines += try store.tiers(.month(CivilMonth("2026-02")!)).map { "\($0)" }
        lines += try store.tiers(.asOf(CivilDate("2026-03-15")!)).map { "\($0)" }
        lines += try store.transitions(CivilMonth("2026-01")!).map { "\($0)" }
        lines += try store.retention(period: .week, from: from, to: to, periods: 4).map { "\($0)" }
        lines += try store.lifecycle(period: .week, from: from, to: to).map { "\($0)" }
        lines.append("\(try store.sessionSummary(from: from, to: to))")
        for row in try store.exportedRows(.dailyActivity, from: from, to: to) {
            lines.append("\(row["user_id"]!) \(row["date"]!) \(row["is_active_day"]!) \(row["engagement_tier"]!)")
        }
        for row in try store.exportedRows(.sessions, from: from, to: to) {
            lines.append("\(row["user_id"]!) \(row["start_ms"]!) \(row["session_type"]!)")
        }
        return lines
    }

    @Test("flipping an action's core flag gives the same results as a fresh import with the new catalog")
    func catalogFlip() async throws {
        let flipped = try Fixtures.actions().map { action -> ActionDefinition in
            var action = action
            if action.actionType == "login" || action.actionType == "like" { action.isCoreAction.toggle() }
            return action
        }
        let changed = try TemporaryStore()
        _ = try await changed.store.defineActions(Fixtures.actions())
        _ = try await changed.store.upsertUsers(Fixtures.users())
        _ = try await changed.ingest(Fixtures.events())
        let before = try Self.everything(changed.store)
        let result = try await changed.store.defineActions(
            flipped.filter { $0.actionType == "login" || $0.actionType == "like" }
        )
        #expect(result.accepted == 2)
        _ = try await changed.store.waitApplied()

        let fresh = try TemporaryStore()
        _ = try await fresh.store.defineActions(flipped)
        _ = try await fresh.store.upsertUsers(Fixtures.users())
        _ = try await fresh.ingest(Fixtures.events())

        let after = try Self.everything(changed.store)
        #expect(after != before, "the flip must change something")
        #expect(firstDifference(after, try Self.everything(fresh.store)) == nil)
        #expect(try changed.store.verify().isClean)
    }
}
