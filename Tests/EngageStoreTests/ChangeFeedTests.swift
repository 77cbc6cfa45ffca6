import EngageModel
import EngageStore
import EngageTestSupport
import Foundation
import Testing

@Suite("The change feed")
struct ChangeFeedTests {
    static let day = CivilDate("2026-03-10")!

    static func at(_ date: CivilDate, _ hour: Int, _ minute: Int = 0) -> Int64 {
        Int64(date.dayNumber) * 86_400_000 + Int64(hour) * 3_600_000 + Int64(minute) * 60_000
    }

    /// Everything the feed holds after `since`, merged.
    static func merged(_ store: EngageStore, since: UInt64) throws -> StoreChange {
        let page = try store.changes(since: since)
        var merged = StoreChange(
            sequence: page.current,
            catalogChanged: false,
            dailyDays: [],
            sessionDays: [],
            eventDays: [],
            userKeys: []
        )
        for change in page.changes {
            merged.catalogChanged = merged.catalogChanged || change.catalogChanged
            merged.dailyDays = Array(Set(merged.dailyDays + change.dailyDays)).sorted()
            merged.sessionDays = Array(Set(merged.sessionDays + change.sessionDays)).sorted()
            merged.eventDays = Array(Set(merged.eventDays + change.eventDays)).sorted()
            merged.userKeys = Array(Set(merged.userKeys + change.userKeys)).sorted()
        }
        return merged
    }

    @Test(
        "each commit names what it rewrote: events, daily rows with the 29-day tier ripple, sessions, users, the catalog"
    )
    func units() async throws {
        let temporary = try TemporaryStore()
        let store = temporary.store
        _ = try await store.defineActions([
            ActionDefinition(actionType: "like", category: "social", engagementWeight: 1, isCoreAction: true)
        ])
        _ = try await store.waitApplied()
        let afterCatalog = try store.changes(since: 0)
        #expect(afterCatalog.changes.count == 1 && afterCatalog.changes[0].catalogChanged)
        #expect(afterCatalog.current == 1 && afterCatalog.oldest == 1)

        // A new user's first events on day d: the event day, its daily row, its session, the user.
        var since = afterCatalog.current
        _ = try await temporary.ingest([
            Event(userID: "u1", eventID: "a", timestampMs: Self.at(Self.day, 10), action: "like"),
            Event(userID: "u1", eventID: "b", timestampMs: Self.at(Self.day, 10, 5), action: "like"),
        ])
        var change = try Self.merged(store, since: since)
        #expect(change.eventDays == [Self.day] && change.sessionDays == [Self.day] && change.dailyDays == [Self.day])
        #expect(change.userKeys == [1] && !change.catalogChanged)

        // A late event 5 days earlier makes a new active day: the rolling tier of the days after it within 29
        // days that have rows changes too (here d), and the user's implied registration date moves.
        since = change.sequence
        let earlier = Self.day.adding(days: -5)
        _ = try await temporary.ingest([
            Event(userID: "u1", eventID: "c", timestampMs: Self.at(earlier, 9), action: "like")
        ])
        change = try Self.merged(store, since: since)
        #expect(change.eventDays == [earlier] && change.sessionDays == [earlier])
        #expect(change.dailyDays == [earlier, Self.day])
        #expect(change.userKeys == [1])

        // A session bridge across midnight: the late event joins the session of the evening before, which
        // absorbs the one after midnight; both start days are named (one of them loses its session).
        since = change.sequence
        let next = Self.day.adding(days: 1)
        _ = try await temporary.ingest([
            Event(userID: "u1", eventID: "d", timestampMs: Self.at(Self.day, 23, 40), action: "like"),
            Event(userID: "u1", eventID: "e", timestampMs: Self.at(next, 0, 30), action: "like"),
        ])
        since = try store.changes(since: 0).current
        _ = try await temporary.ingest([
            Event(userID: "u1", eventID: "f", timestampMs: Self.at(next, 0, 5), action: "like")
        ])
        change = try Self.merged(store, since: since)
        #expect(change.sessionDays == [Self.day, next])
        #expect(
            try store.exportedRows(.sessions, from: next, to: next).isEmpty,
            "the bridged session starts the day before"
        )

        // A profile upsert names only the user; a catalog flip says every day may have changed.
        since = change.sequence
        _ = try await store.upsertUsers([UserProfile(userID: "u1", attributes: [.region: "eu"])])
        _ = try await store.waitApplied()
        change = try Self.merged(store, since: since)
        #expect(
            change.userKeys == [1] && change.dailyDays.isEmpty && change.eventDays.isEmpty && !change.catalogChanged
        )
        since = change.sequence
        _ = try await store.defineActions([
            ActionDefinition(actionType: "like", category: "social", engagementWeight: 1, isCoreAction: false)
        ])
        _ = try await store.waitApplied()
        #expect(try Self.merged(store, since: since).catalogChanged)
        // Duplicates only: nothing rewritten, no commit recorded.
        since = try store.changes(since: 0).current
        _ = try await temporary.ingest([
            Event(userID: "u1", eventID: "a", timestampMs: Self.at(Self.day, 10), action: "like")
        ])
        #expect(try store.changes(since: since).changes.isEmpty)
    }

    @Test("pages are ascending and limited; the sequence survives a restart; EXPORT_USERS gives the rows of given keys")
    func pagingAndUsers() async throws {
        let directory = NSTemporaryDirectory() + "engage-changes-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let configuration = StoreConfiguration.forTests(path: directory)
        let events = Array(try Fixtures.events().prefix(1200))
        var current: UInt64 = 0
        do {
            let store = try EngageStore.running(configuration: configuration)
            _ = try await store.defineActions(Fixtures.actions())
            _ = try await store.upsertUsers(Fixtures.users())
            for start in stride(from: 0, to: events.count, by: 100) {
                _ = try await store.ingest(Array(events[start..<start + 100]))
                _ = try await store.waitApplied()
            }
            let all = try store.changes(since: 0)
            current = all.current
            #expect(all.changes.map(\.sequence) == Array(1...current), "gapless, ascending")
            let page = try store.changes(since: 2, limit: 3)
            #expect(page.changes.map(\.sequence) == [3, 4, 5] && page.current == current)
            // Every event day of the data is named by some change.
            let named = Set(all.changes.flatMap(\.eventDays))
            let days = Set(events.map { ReportingTimeZone.utc.localDay(epochMs: $0.timestampMs) })
            #expect(named == days)
            store.close()
        }
        let reopened = try EngageStore.running(configuration: configuration)
        defer { reopened.close() }
        #expect(try reopened.changes(since: 0).current == current)
        let rows = try reopened.exportUsers(keys: [3, 1, 999_999])
        let all = try reopened.exportedRows(.users)
        #expect(rows.count == 2)
        #expect(rows.map { $0[0] } == [.integer(3), .integer(1)])
        #expect(
            all.first { $0["user_key"] == "3" }?["user_id"]
                == { if case .text(let id) = rows[0][1] { return id } else { return nil } }()
        )
    }
}
