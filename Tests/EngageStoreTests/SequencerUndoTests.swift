import EngageModel
import EngageTestSupport
import Foundation
import LMDB
import Testing

@testable import EngageStore

/// The sequencer undoes a group whose journal write failed (a full disk): the keys it handed out are handed
/// out again, so the names it took them for must be new again too.
@Suite("Sequencer: a group that was never journaled leaves no name behind")
struct SequencerUndoTests {
    static let timestamp = Timestamp.parseISO8601("2026-03-02T10:00:00Z")!

    static func event(_ user: String, _ id: String, context: String) -> Event {
        Event(userID: user, eventID: id, timestampMs: Self.timestamp, action: "login", context: context)
    }

    /// The new users and contexts of the first events record of `decisions`.
    static func newNames(_ decisions: [Sequencer.Decision]) -> (users: [NewUser], contexts: [NewContext]) {
        for case .journal(.events(let record), _) in decisions { return (record.newUsers, record.newContexts) }
        return ([], [])
    }

    @Test("after undo, a name the undone group introduced is new again and keeps a key of its own")
    func undoneNamesAreNewAgain() throws {
        let directory = NSTemporaryDirectory() + "engage-undo-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // Never run: no sequencer thread competes with this test for the sequencer.
        let store = try EngageStore(configuration: .forTests(path: directory))
        defer { store.close() }
        let sequencer = store.writer.sequencer
        let nowMs = Self.timestamp + 86_400_000
        try store.environment.read { txn in
            let (first, undo) = try sequencer.decide(
                [.events([Self.event("ann", "1", context: "home")])],
                nowMs: nowMs,
                txn
            )
            let introduced = Self.newNames(first)
            #expect(introduced.users.map(\.id) == ["ann"] && introduced.contexts.map(\.text) == ["home"])
            sequencer.undo(undo)

            let (second, _) = try sequencer.decide(
                [.events([Self.event("bob", "2", context: "feed"), Self.event("ann", "3", context: "home")])],
                nowMs: nowMs,
                txn
            )
            let again = Self.newNames(second)
            #expect(again.users.map(\.id) == ["bob", "ann"])
            #expect(Set(again.users.map(\.key)).count == 2, "\(again.users)")
            #expect(again.contexts.map(\.text) == ["feed", "home"])
            #expect(Set(again.contexts.map(\.id)).count == 2, "\(again.contexts)")
        }
    }
}
