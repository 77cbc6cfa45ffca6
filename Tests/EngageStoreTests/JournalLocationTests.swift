import EngageModel
import EngageTestSupport
import Foundation
import LMDB
import Testing

@testable import EngageStore

@Suite("The journal in a directory of its own: moves that would leave acknowledged writes behind are refused")
struct JournalLocationTests {
    static func directory(_ name: String) -> String {
        NSTemporaryDirectory() + "engage-journal-place-" + name + "-" + UUID().uuidString
    }

    /// Fresh temporary directories for one test.
    struct Scratch {
        let paths: [String]
        init(_ names: String...) { self.paths = names.map(JournalLocationTests.directory) }
        subscript(index: Int) -> String { self.paths[index] }
        func remove() { for path in self.paths { try? FileManager.default.removeItem(atPath: path) } }
    }

    /// Opens a store, checks that it holds `events` events and verifies clean, and closes it.
    static func expectEvents(_ events: Int, _ configuration: StoreConfiguration) throws {
        let store = try EngageStore.running(configuration: configuration)
        defer { store.close() }
        #expect(try store.stats().events == events)
        #expect(try store.verify().isClean)
    }

    static func configuration(_ data: String, journal: String?) -> StoreConfiguration {
        var configuration = StoreConfiguration(path: data, eventFilterBytes: 1 << 16, initialMapSize: 64 << 20)
        configuration.journalDirectory = journal
        return configuration
    }

    /// Opens and closes a store; the error it was refused with, nil when it opened.
    static func refusal(_ configuration: StoreConfiguration) -> StoreError? {
        do {
            let store = try EngageStore(configuration: configuration)
            store.close()
            return nil
        } catch {
            return error as? StoreError ?? StoreError(.failed, "not a StoreError: \(error)")
        }
    }

    static func files(_ directory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
    }

    /// Ingests `batches` batches of 250 events with the applier held: everything stays in the journal only.
    /// Returns the events accepted and the journal records written (one for the actions, one per batch).
    static func acknowledgeOnly(
        _ configuration: StoreConfiguration,
        batches: Int
    ) async throws -> (accepted: Int, records: Int) {
        var held = configuration
        held.holdsApplierForTesting = true
        let events = Array(try Fixtures.events().prefix(250 * batches))
        let store = try EngageStore.running(configuration: held)
        _ = try await store.defineActions(Fixtures.actions())
        var accepted = 0
        for start in stride(from: 0, to: events.count, by: 250) {
            accepted += try await store.ingest(Array(events[start..<start + 250])).accepted
        }
        #expect(try store.stats().events == 0, "nothing is applied while the applier is held")
        store.close()
        return (accepted, 1 + batches)
    }

    @Test("writes acknowledged into a journal elsewhere are replayed from there; a start without it is refused")
    func replayFromItsOwnDirectory() async throws {
        let scratch = Scratch("data", "journal")
        defer { scratch.remove() }
        let (data, journal) = (scratch[0], scratch[1])
        let elsewhere = Self.configuration(data, journal: journal)
        let (accepted, records) = try await Self.acknowledgeOnly(elsewhere, batches: 4)
        #expect(accepted > 900)
        #expect(Self.files(journal).contains(JournalLocation.identityFile))
        #expect(Self.files(journal).contains { $0.hasSuffix(".journal") })
        #expect(!FileManager.default.fileExists(atPath: data + "/journal"), "nothing goes to DATA/journal")

        // Without --journal the acknowledged writes would be skipped: refused, naming where they are.
        let refused = try #require(Self.refusal(Self.configuration(data, journal: nil)))
        #expect(refused.code == .cannotOpen)
        #expect(refused.message.contains("the journal at \(journal) holds \(records) acknowledged writes not applied"))
        #expect(refused.message.contains("start once with --journal \(journal)"))
        // Nor may another spelling of a new place skip them.
        #expect(Self.refusal(Self.configuration(data, journal: journal + "-new"))?.code == .cannotOpen)

        do {
            let store = try EngageStore.running(configuration: elsewhere)
            #expect(try store.stats().events == accepted, "replayed from the journal's own directory")
            #expect(try store.verify().isClean)
            store.close()
        }
        // Everything applied: the journal may move back into the data directory, and the old place is emptied.
        let store = try EngageStore.running(configuration: Self.configuration(data, journal: data + "/journal"))
        defer { store.close() }
        #expect(try store.stats().events == accepted)
        _ = try await store.ingest(Array(try Fixtures.events().dropFirst(1000).prefix(10)))
        #expect(!Self.files(journal).contains { $0.hasSuffix(".journal") || $0 == JournalLocation.identityFile })
        #expect(Self.files(data + "/journal").contains(JournalLocation.identityFile))
    }

    @Test("a journal directory that no longer holds the journal is refused; --journal-lost starts without it")
    func lostJournal() async throws {
        let scratch = Scratch("data", "journal")
        defer { scratch.remove() }
        let (data, journal) = (scratch[0], scratch[1])
        let elsewhere = Self.configuration(data, journal: journal)
        _ = try await Self.acknowledgeOnly(elsewhere, batches: 2)
        // An empty directory where the journal was: a file system that is not mounted.
        try FileManager.default.removeItem(atPath: journal)
        try FileManager.default.createDirectory(atPath: journal, withIntermediateDirectories: false)
        let refused = try #require(Self.refusal(elsewhere))
        #expect(refused.code == .cannotOpen)
        #expect(refused.message.contains("is its file system mounted?"))
        #expect(refused.message.contains("--journal-lost"))
        // The default place instead: refused too, naming where the journal was.
        let moved = try #require(Self.refusal(Self.configuration(data, journal: nil)))
        #expect(moved.message.contains("was at \(journal), which holds no journal of it now"))
        #expect(Self.files(journal).allSatisfy { $0 == DataDirectoryLock.fileName }, "refusals claim nothing")

        var accepting = elsewhere
        accepting.journalLost = true
        let store = try EngageStore.running(configuration: accepting)
        #expect(try store.stats().events == 0, "what was only in the lost journal is gone")
        #expect(try store.verify().isClean)
        let accepted = try await store.ingest(Array(try Fixtures.events().prefix(100))).accepted
        store.close()
        // The journal is this store's again: the next start needs no flag.
        try Self.expectEvents(accepted, elsewhere)
    }

    @Test("another data directory's journal directory is refused")
    func anotherStoresJournal() async throws {
        let scratch = Scratch("first", "second", "journal")
        defer { scratch.remove() }
        let (first, second, journal) = (scratch[0], scratch[1], scratch[2])
        let firstStore = try EngageStore.running(configuration: Self.configuration(first, journal: journal))
        let accepted = try await firstStore.ingest(Array(try Fixtures.events().prefix(50))).accepted
        firstStore.close()
        let refused = try #require(Self.refusal(Self.configuration(second, journal: journal)))
        #expect(refused.code == .cannotOpen)
        #expect(refused.message.contains("\(journal) holds the journal of another data directory"))
        try Self.expectEvents(accepted, Self.configuration(first, journal: journal))
    }

    @Test("--journal-lost does not skip what the recorded journal still holds")
    func journalLostKeepsWhatIsThere() async throws {
        let scratch = Scratch("data", "journal")
        defer { scratch.remove() }
        let (data, journal) = (scratch[0], scratch[1])
        let (accepted, records) = try await Self.acknowledgeOnly(Self.configuration(data, journal: journal), batches: 2)
        var elsewhere = Self.configuration(data, journal: journal + "-new")
        elsewhere.journalLost = true
        let refused = try #require(Self.refusal(elsewhere))
        #expect(refused.message.contains("the journal at \(journal) holds \(records) acknowledged writes"))
        try Self.expectEvents(accepted, Self.configuration(data, journal: journal))
    }

    @Test("the same directory by another path (a symbolic link) is no move: the journal is replayed from it")
    func symbolicLink() async throws {
        let scratch = Scratch("data", "journal", "link")
        defer { scratch.remove() }
        let (data, journal, link) = (scratch[0], scratch[1], scratch[2])
        let (accepted, _) = try await Self.acknowledgeOnly(Self.configuration(data, journal: journal), batches: 2)
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: journal)
        let store = try EngageStore.running(configuration: Self.configuration(data, journal: link))
        defer { store.close() }
        #expect(try store.stats().events == accepted)
        #expect(Self.files(journal).contains(JournalLocation.identityFile))
    }

    @Test("a backup's copy has no journal: it starts on its own and never takes the source's journal directory")
    func backupCopy() async throws {
        let scratch = Scratch("data", "journal", "copy")
        defer { scratch.remove() }
        let (data, journal, copy) = (scratch[0], scratch[1], scratch[2])
        let source = try EngageStore.running(configuration: Self.configuration(data, journal: journal))
        let accepted = try await source.ingest(Array(try Fixtures.events().prefix(300))).accepted
        #expect(try await source.backup(to: copy) > 0)
        let later = try await source.ingest(Array(try Fixtures.events().dropFirst(300).prefix(200))).accepted
        source.close()
        let journalFiles = Self.files(journal)

        let refused = try #require(Self.refusal(Self.configuration(copy, journal: journal)))
        #expect(refused.message.contains("\(journal) holds the journal of another data directory"))
        let restored = try EngageStore.running(configuration: Self.configuration(copy, journal: nil))
        #expect(try restored.stats().events == accepted)
        restored.close()
        #expect(Self.files(journal) == journalFiles, "the source's journal is untouched")
        try Self.expectEvents(accepted + later, Self.configuration(data, journal: journal))
    }

    @Test("a journal directory a running server uses, or holding segments without a journal-id, is refused")
    func inUseOrUnknown() async throws {
        let scratch = Scratch("data", "journal", "copy", "strange")
        defer { scratch.remove() }
        let (data, journal, copy, strange) = (scratch[0], scratch[1], scratch[2], scratch[3])
        do {
            let store = try EngageStore.running(configuration: Self.configuration(data, journal: journal))
            _ = try await store.ingest(Array(try Fixtures.events().prefix(50)))
            store.close()
        }
        // A copy made by hand records the same journal; while the source runs, it cannot have it.
        try FileManager.default.copyItem(atPath: data, toPath: copy)
        let running = try EngageStore.running(configuration: Self.configuration(data, journal: journal))
        let inUse = try #require(Self.refusal(Self.configuration(copy, journal: nil)))
        #expect(inUse.code == .directoryInUse)
        #expect(inUse.message.contains("\(journal) is in use by"))
        running.close()
        #expect(Self.files(journal).contains(JournalLocation.identityFile))

        try FileManager.default.createDirectory(atPath: strange, withIntermediateDirectories: true)
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: strange + "/00000000000000000001.journal"))
        let unknown = try #require(Self.refusal(Self.configuration(data, journal: strange)))
        #expect(unknown.message.contains("\(strange) holds journal segments but no journal-id file"))
    }

    @Test(
        "a data directory from before the journal's place was recorded replays DATA/journal (also after a start stopped between journal-id and meta)",
        arguments: [false, true]
    )
    func upgrade(stoppedAfterClaim: Bool) async throws {
        let scratch = Scratch("data")
        defer { scratch.remove() }
        let data = scratch[0]
        let (accepted, _) = try await Self.acknowledgeOnly(Self.configuration(data, journal: nil), batches: 2)
        // Back to what an earlier version left: no binding in meta, no journal-id.
        do {
            let environment = try Environment(path: data, options: .init(maxDatabases: Schema.databaseCount + 2))
            let meta = try environment.openDatabase("meta")
            try environment.write { txn in try StoreMeta.forgetJournal(txn, meta) }
        }
        try FileManager.default.removeItem(atPath: data + "/journal/" + JournalLocation.identityFile)
        if stoppedAfterClaim {
            try JournalLocation(configured: nil, dataDirectory: data).claim(dataDirectory: data, token: 42, sync: false)
        }
        let store = try EngageStore.running(configuration: Self.configuration(data, journal: nil))
        defer { store.close() }
        #expect(try store.stats().events == accepted)
        #expect(try store.verify().isClean)
    }

    @Test("DATA/journal named explicitly is the default place; relative paths are made absolute")
    func places() {
        let data = "/srv/engage"
        #expect(
            JournalLocation(configured: data + "/journal", dataDirectory: data)
                == .init(configured: nil, dataDirectory: data)
        )
        #expect(JournalLocation(configured: data + "/./journal/", dataDirectory: data).customDirectory == nil)
        let relative = JournalLocation(configured: "wal", dataDirectory: data)
        #expect(relative.customDirectory == FileManager.default.currentDirectoryPath + "/wal")
        #expect(JournalLocation(recorded: relative.recorded) == relative)
        #expect(JournalLocation(recorded: "") == .init(configured: nil, dataDirectory: data))
    }
}
