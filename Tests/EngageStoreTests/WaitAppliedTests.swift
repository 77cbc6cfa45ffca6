import EngageModel
import EngageStore
import EngageTestSupport
import Foundation
import Testing

@Suite("WAIT_APPLIED's sequence")
struct WaitAppliedTests {
    @Test("every acknowledged write batch takes the next number; rebuilds do not; a reopened store keeps the count")
    func sequence() async throws {
        let directory = NSTemporaryDirectory() + "engage-wait-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let configuration = StoreConfiguration.forTests(path: directory)
        let events = Array(try Fixtures.events().prefix(900))
        do {
            let store = try EngageStore.running(configuration: configuration)
            defer { store.close() }
            #expect(try await store.waitApplied() == 0)
            _ = try await store.defineActions(Fixtures.actions())
            _ = try await store.upsertUsers(Fixtures.users())
            for start in stride(from: 0, to: events.count, by: 300) {
                _ = try await store.ingest(Array(events[start..<start + 300]))
            }
            // A batch whose every event is a duplicate is still a batch acknowledged.
            let again = try await store.ingest(Array(events.prefix(10)))
            #expect(again.duplicates == 10)
            #expect(try await store.waitApplied() == 6)
            try await store.rebuildDerivedRecords()
            #expect(try await store.waitApplied() == 6)
            // What WAIT_APPLIED covers is visible: every stored event is counted.
            #expect(try store.stats().events == events.count)
        }
        let reopened = try EngageStore.running(configuration: configuration)
        defer { reopened.close() }
        #expect(try await reopened.waitApplied() == 6)
    }
}
