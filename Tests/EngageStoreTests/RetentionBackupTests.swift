import EngageModel
import EngageStore
import EngageTestSupport
import Foundation
import Testing

@Suite("Raw-event retention and backups")
struct RetentionBackupTests {
    static let horizon = CivilDate("2026-02-15")!
    static let last = CivilDate("2026-03-31")!

    /// Every query over days inside [horizon, last], as text.
    static func insideHorizon(_ store: EngageStore) throws -> [String] {
        let from = Self.horizon
        let to = Self.last
        var lines: [String] = []
        lines += try store.activity(ActivityQuery(from: from, to: to)).map { "\($0)" }
        lines += try store.activity(
            ActivityQuery(
                from: from,
                to: to,
                filters: [DimensionFilter(dimension: .attribute(.region), values: ["eu"])]
            )
        ).map { "\($0)" }
        lines += try store.activity(ActivityQuery(from: from, to: to, breakdown: .cohort)).map { "\($0)" }
        lines += try store.activeDays(from: from, to: to).map { "\($0)" }
        lines += try store.tiers(.month(CivilMonth("2026-03")!)).map { "\($0)" }
        lines += try store.tiers(.asOf(to)).map { "\($0)" }
        lines += try store.transitions(CivilMonth("2026-02")!).map { "\($0)" }
        lines += try store.retention(period: .week, from: from, to: to, periods: 4).map { "\($0)" }
        lines += try store.lifecycle(period: .week, from: from, to: to).map { "\($0)" }
        lines.append("\(try store.sessionSummary(from: from, to: to))")
        lines += try store.atRisk(asOf: to, limit: 50).map { "\($0)" }
        lines += try store.actionUsage(from: from, to: to).map { "\($0)" }
        for table in [ExportTable.dailyActivity, .sessions, .events] {
            try store.export(table, from: from, to: to) { lines.append("\(table) \($0)") }
        }
        return lines
    }

    @Test("dropping raw events past the horizon leaves every query over days inside it unchanged")
    func retention() async throws {
        let directory = NSTemporaryDirectory() + "engage-retention-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var configuration = StoreConfiguration.forTests(path: directory)
        let before: [String]
        let eventsBefore: Int
        do {
            let store = try EngageStore.running(configuration: configuration)
            _ = try await store.defineActions(Fixtures.actions())
            _ = try await store.upsertUsers(Fixtures.users())
            _ = try await store.ingest(Fixtures.events())
            _ = try await store.waitApplied()
            before = try Self.insideHorizon(store)
            eventsBefore = try store.stats().events
            store.close()
        }
        let today = ReportingTimeZone.utc.localDay(epochMs: Int64(Date().timeIntervalSince1970 * 1000))
        configuration.rawRetentionDays = Int(today.dayNumber - Self.horizon.dayNumber)
        let store = try EngageStore.running(configuration: configuration)
        defer { store.close() }
        try await store.purgeExpiredRawEvents()
        var firstEventDay: String?
        try store.export(.events, from: CivilDate("2025-12-01")!, to: Self.last) { row in
            if firstEventDay == nil, case .text(let date) = row[11] { firstEventDay = date }
        }
        #expect(firstEventDay == Self.horizon.description, "no raw event before the horizon is left")
        let stored = try store.stats().events
        #expect(stored < eventsBefore && stored > 0, "stats count the events still stored")
        #expect(firstDifference(try Self.insideHorizon(store), before) == nil)

        // Events before the horizon are refused; inside it they are stored.
        let result = try await store.ingest([
            Event(
                userID: "late",
                eventID: "old",
                timestampMs: Self.horizon.adding(days: -1).utcMidnightMsForTests + 3_600_000,
                action: "like"
            ),
            Event(
                userID: "late",
                eventID: "new",
                timestampMs: Self.horizon.utcMidnightMsForTests + 3_600_000,
                action: "like"
            ),
        ])
        #expect(result.rejected == [Rejection(index: 0, reason: .olderThanRetention)])
        #expect(result.accepted == 1)
        // Verify and rebuild need every raw event: refused with their own code, not as a server failure.
        let verifyError = #expect(throws: StoreError.self) { try store.verify() }
        #expect(verifyError?.code == .rawEventsDropped)
        #expect(verifyError?.message.contains("dropped by raw-event retention; verify needs every raw event") == true)
        await #expect(
            throws: StoreError(
                .rawEventsDropped,
                "raw events before \(Self.horizon) were dropped by raw-event retention; rebuilding from what is left would lose those days"
            )
        ) {
            try await store.rebuildDerivedRecords()
        }
    }

    @Test("a backup starts as a data directory and answers like the source did")
    func backup() async throws {
        let temporary = try await ConformanceQueryTests.loaded("UTC")
        let copy = NSTemporaryDirectory() + "engage-backup-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: copy) }
        let bytes = try await temporary.store.backup(to: copy)
        #expect(bytes > 0)
        // Into a data directory, or into the store's own (locked) directory: backup_failed, saying why.
        let again = await #expect(throws: StoreError.self) { try await temporary.store.backup(to: copy) }
        #expect(again?.code == .backupFailed && again?.message.contains("already holds a data directory") == true)
        let own = await #expect(throws: StoreError.self) {
            try await temporary.store.backup(to: temporary.store.configuration.path)
        }
        #expect(own?.code == .backupFailed, "\(String(describing: own))")
        let restored = try EngageStore.running(
            configuration: StoreConfiguration(path: copy, eventFilterBytes: 1 << 16, initialMapSize: 64 << 20)
        )
        defer { restored.close() }
        #expect(firstDifference(try Self.insideHorizon(restored), try Self.insideHorizon(temporary.store)) == nil)
        #expect(try restored.stats().events == temporary.store.stats().events)
        #expect(try restored.verify().isClean)
    }

    @Test("a purge that drops every stored event (the last one included) leaves an empty, consistent store")
    func purgeEverything() async throws {
        let directory = NSTemporaryDirectory() + "engage-purge-all-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var configuration = StoreConfiguration.forTests(path: directory)
        let events = try Fixtures.events().prefix(500)
        let someDay = ReportingTimeZone.utc.localDay(epochMs: events.first!.timestampMs)
        do {
            let store = try EngageStore.running(configuration: configuration)
            #expect(try await store.ingest(Array(events)).accepted == 500)
            store.close()
        }
        // Every event of the data set is before this horizon.
        let today = ReportingTimeZone.utc.localDay(epochMs: Int64(Date().timeIntervalSince1970 * 1000))
        configuration.rawRetentionDays = Int(today.dayNumber - CivilDate("2026-06-01")!.dayNumber)
        let store = try EngageStore.running(configuration: configuration)
        defer { store.close() }
        try await store.purgeExpiredRawEvents()
        #expect(try store.stats().events == 0)
        var rows = 0
        try store.export(.events, from: CivilDate("2025-12-01")!, to: CivilDate("2026-04-30")!) { _ in rows += 1 }
        #expect(rows == 0)
        // Derived records stay: the days still count their users.
        #expect(try store.activity(ActivityQuery(from: someDay, to: someDay)).first?.dau ?? 0 > 0)
    }
}
