import EngageModel
import EngageStore
import EngageTestSupport
import Foundation
import Testing

/// Swift's `String` equality is Unicode canonical equivalence; the store's ids are bytes (LMDB keys, the
/// journal, clients in other languages). Two spellings of "é" must stay two users, two contexts, two action
/// types, whether the writer's caches hold the first one or not.
@Suite("Names are byte-exact")
struct ExactNamesTests {
    static let composed = "caf\u{E9}"  // é as one scalar (NFC)
    static let decomposed = "cafe\u{301}"  // e + combining acute (NFD)

    static func event(_ user: String, _ id: String, action: String, context: String) -> Event {
        Event(
            userID: user,
            eventID: id,
            timestampMs: 1_772_359_200_000,
            action: action,
            context: context,
            metadata: ""
        )
    }

    @Test(
        "two spellings of the same text are two users and two action types, in one batch, in two, and after a restart"
    )
    func twoSpellings() async throws {
        #expect(Self.composed == Self.decomposed)  // what String says
        #expect(Array(Self.composed.utf8) != Array(Self.decomposed.utf8))
        let directory = NSTemporaryDirectory() + "engage-names-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let configuration = StoreConfiguration.forTests(path: directory)
        let baseActions: Int
        do {
            let store = try EngageStore.running(configuration: configuration)
            defer { store.close() }
            baseActions = try store.stats().actions
            let first = try await store.ingest([
                Self.event(Self.composed, "e1", action: Self.composed, context: Self.composed),
                Self.event(Self.decomposed, "e2", action: Self.decomposed, context: Self.decomposed),
            ])
            #expect(first.accepted == 2)
            // The caches now hold both; a later batch must find each one's own key.
            let second = try await store.ingest([
                Self.event(Self.decomposed, "e3", action: Self.decomposed, context: Self.composed),
                Self.event(Self.composed, "e4", action: Self.composed, context: Self.decomposed),
            ])
            #expect(second.accepted == 2)
            _ = try await store.waitApplied()
            #expect(try store.stats().users == 2)
            #expect(try store.stats().actions == baseActions + 2)
            for user in [Self.composed, Self.decomposed] {
                let detail = try #require(try store.user(user))
                #expect(detail.profile.userID.utf8.elementsEqual(user.utf8))
                #expect(detail.days.reduce(0) { $0 + $1.totalActions } == 2, "\(Array(user.utf8))")
            }
        }
        // After a restart the caches are empty: the decomposed spelling is found in the store, not created.
        let reopened = try EngageStore.running(configuration: configuration)
        defer { reopened.close() }
        _ = try await reopened.ingest([
            Self.event(Self.decomposed, "e5", action: Self.decomposed, context: Self.decomposed),
            Self.event(Self.composed, "e6", action: Self.composed, context: Self.composed),
        ])
        _ = try await reopened.waitApplied()
        #expect(try reopened.stats().users == 2)
        #expect(try reopened.stats().actions == baseActions + 2)
        for user in [Self.composed, Self.decomposed] {
            let detail = try #require(try reopened.user(user))
            #expect(detail.days.reduce(0) { $0 + $1.totalActions } == 3, "\(Array(user.utf8))")
        }
    }

    @Test("two spellings of a category are two rows of the actions report")
    func categories() async throws {
        let directory = NSTemporaryDirectory() + "engage-names-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try EngageStore.running(configuration: StoreConfiguration.forTests(path: directory))
        defer { store.close() }
        _ = try await store.defineActions([
            ActionDefinition(actionType: "a1", category: Self.composed, engagementWeight: 1, isCoreAction: true),
            ActionDefinition(actionType: "a2", category: Self.decomposed, engagementWeight: 1, isCoreAction: true),
        ])
        _ = try await store.ingest([
            Self.event("u1", "e1", action: "a1", context: ""),
            Self.event("u2", "e2", action: "a2", context: ""),
            Self.event("u3", "e3", action: "a2", context: ""),
        ])
        _ = try await store.waitApplied()
        let day = CivilDate(dayNumber: Int32(1_772_359_200_000 / 86_400_000))
        let categories = try store.actionUsage(from: day, to: day).filter { $0.actionType == nil }
        #expect(categories.count == 2)
        #expect(
            Set(categories.map { Array($0.category.utf8) }) == [Array(Self.composed.utf8), Array(Self.decomposed.utf8)]
        )
        #expect(categories.map(\.events).sorted() == [1, 2])
    }
}
