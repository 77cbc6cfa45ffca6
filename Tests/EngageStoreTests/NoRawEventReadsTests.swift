import EngageModel
import EngageStore
import EngageTestSupport
import Foundation
import LMDB
import Testing

@Suite("Queries never read raw events")
struct NoRawEventReadsTests {
    /// Loads the conformance data, runs 365-day activity queries, then deletes every raw event behind the
    /// store's back and runs them again: the answers cannot have come from raw events.
    @Test("365-day activity series are identical after the raw events are deleted")
    func activityWithoutRawEvents() async throws {
        let directory = NSTemporaryDirectory() + "engage-noraw-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let configuration = StoreConfiguration.forTests(path: directory)
        let queries = [
            ActivityQuery(from: CivilDate("2025-06-01")!, to: CivilDate("2026-05-31")!),
            ActivityQuery(
                from: CivilDate("2025-06-01")!,
                to: CivilDate("2026-05-31")!,
                filters: [
                    DimensionFilter(dimension: .attribute(.acquisitionChannel), values: ["paid_search", "organic"])
                ]
            ),
            ActivityQuery(from: CivilDate("2025-06-01")!, to: CivilDate("2026-05-31")!, breakdown: .attribute(.region)),
            ActivityQuery(
                from: CivilDate("2025-06-01")!,
                to: CivilDate("2026-05-31")!,
                filters: [DimensionFilter(dimension: .cohort, values: ["2026-01"])],
                breakdown: .attribute(.deviceType)
            ),
        ]
        var before: [[ActivityRow]] = []
        do {
            let store = try EngageStore.running(configuration: configuration)
            _ = try await store.defineActions(Fixtures.actions())
            _ = try await store.upsertUsers(Fixtures.users())
            _ = try await store.ingest(Fixtures.events())
            before = try queries.map { try store.activity($0) }
            store.close()
        }
        #expect(before[0].count == 365)
        #expect(before[0].contains { ($0.mau ?? 0) > 0 })
        #expect(before[3].contains { ($0.dau ?? 0) > 0 })

        // Raw events gone, derived records kept. (The environment is closed before the store reopens it.)
        do {
            let environment = try Environment(path: directory, options: .init(mapSize: 64 << 20, maxDatabases: 32))
            let events = try environment.openDatabase("events", flags: [])
            try environment.write { txn in
                #expect(try txn.count(events) == 30979)
                try txn.empty(events)
            }
            #expect(try environment.read { try $0.count(events) } == 0)
        }

        let store = try EngageStore.running(configuration: configuration)
        defer { store.close() }
        let after = try queries.map { try store.activity($0) }
        #expect(after == before)
    }
}
