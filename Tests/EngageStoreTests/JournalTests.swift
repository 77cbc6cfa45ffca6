import EngageModel
import EngageTestSupport
import Foundation
import Logging
import Testing

@testable import EngageStore

@Suite("The journal: records, torn tails, recovery")
struct JournalTests {
    static func directory() -> String { NSTemporaryDirectory() + "engage-journal-" + UUID().uuidString }

    static func open(
        _ directory: String,
        applied: UInt64 = 0,
        sync: Bool = false,
        segmentBytes: Int = 64 << 20
    ) throws -> (journal: Journal, replay: [(sequence: UInt64, record: JournalRecord)]) {
        try Journal.open(
            directory: directory,
            appliedSequence: applied,
            sync: sync,
            segmentBytes: segmentBytes,
            logger: Logger(label: "journal-tests")
        )
    }

    /// Where each record of a segment's bytes ends (from the length fields).
    static func recordEnds(_ bytes: Data) -> [Int] {
        var ends: [Int] = []
        var offset = 0
        while offset + 4 <= bytes.count {
            let length = bytes[offset..<offset + 4].reduce(0) { $0 << 8 | Int($1) }
            offset += 8 + length
            ends.append(offset)
        }
        return ends
    }

    /// Records of every kind, with varied sizes.
    static func records(_ count: Int) -> [JournalRecord] {
        (0..<count).map { index in
            switch index % 3 {
            case 0:
                var record = JournalRecord.EventsRecord()
                record.newUsers = [NewUser(key: UInt32(index + 1), id: "user-\(index)")]
                record.newContexts = index % 2 == 0 ? [NewContext(id: UInt32(index + 1), text: "home")] : []
                record.duplicates = index % 5
                for position in 0..<(index % 7 + 1) {
                    let metadata: String = position % 2 == 0 ? "" : "{\"k\":\(position)}"
                    let event = ResolvedEvent(
                        user: UInt32(index + 1),
                        day: StoreDay(9000 + position),
                        actionKey: 3,
                        contextID: 0,
                        timestampMs: 1_771_111_209_608 + Int64(position),
                        eventID: "e-\(index)-\(position)",
                        metadata: metadata
                    )
                    record.events.append(event)
                }
                return .events(record)
            case 1:
                var record = JournalRecord.UsersRecord()
                let date = CivilDate(dayNumber: 20_454 + Int32(index))
                let profile = UserProfile(userID: "p-\(index)", registrationDate: date, attributes: [.region: "eu"])
                record.profiles = [(UInt32(index), profile)]
                return .users(record)
            default:
                return .actions(
                    JournalRecord.ActionsRecord(definitions: [
                        ActionAssignment(
                            key: UInt16(index % 200 + 1),
                            record: ActionRecord(
                                actionType: Array("a\(index)".utf8),
                                category: "c",
                                weight: -2,
                                isCore: true
                            )
                        )
                    ])
                )
            }
        }
    }

    @Test("every record kind survives encoding and a reopen, in order, numbered from the applied sequence")
    func roundTrip() throws {
        let directory = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let records = Self.records(30)
        do {
            let (journal, replay) = try Self.open(directory, sync: true)
            #expect(replay.isEmpty)
            #expect(try journal.append(Array(records[0..<10])) == 1...10)
            #expect(try journal.append(Array(records[10...])) == 11...30)
        }
        let (journal, replay) = try Self.open(directory, applied: 12, sync: true)
        #expect(replay.map(\.sequence) == Array(13...30))
        #expect(replay.map(\.record) == Array(records[12...]))
        #expect(journal.lastSequence == 30)
        #expect(try journal.append([records[0]]) == 31...31)
    }

    @Test(
        "a file cut anywhere gives back exactly the records written whole before the cut, and appends go on after them"
    )
    func tornTail() throws {
        let directory = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let records = Self.records(12)
        do {
            let (journal, _) = try Self.open(directory)
            for record in records { _ = try journal.append([record]) }
        }
        let segment = try #require(
            try FileManager.default.contentsOfDirectory(atPath: directory).first {
                $0.hasSuffix(".journal") && $0 != "00000000000000000013.journal"
            }
        )
        let path = directory + "/" + segment
        let whole = try Data(contentsOf: URL(fileURLWithPath: path))
        // Where each record ends.
        let ends = Self.recordEnds(whole)
        #expect(ends.count == records.count && ends.last == whole.count)
        for cut in stride(from: 0, through: whole.count, by: 7) + [whole.count - 1] {
            let copy = Self.directory()
            defer { try? FileManager.default.removeItem(atPath: copy) }
            try FileManager.default.createDirectory(atPath: copy, withIntermediateDirectories: true)
            try whole.prefix(cut).write(to: URL(fileURLWithPath: copy + "/" + segment))
            let (journal, replay) = try Self.open(copy)
            let intact = ends.filter { $0 <= cut }.count
            #expect(replay.map(\.record) == Array(records.prefix(intact)), "cut at \(cut)")
            // The torn bytes are gone: the next record follows the last whole one.
            let next = try journal.append([records[0]])
            #expect(next == UInt64(intact + 1)...UInt64(intact + 1))
            let (_, again) = try Self.open(copy)
            #expect(again.count == intact + 1, "cut at \(cut): reopened after appending")
        }
    }

    @Test("a damaged byte ends the journal at the record holding it; what follows is not replayed")
    func damagedByte() throws {
        let directory = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let records = Self.records(9)
        do {
            let (journal, _) = try Self.open(directory)
            for record in records { _ = try journal.append([record]) }
        }
        let segment = try #require(try FileManager.default.contentsOfDirectory(atPath: directory).sorted().first)
        let path = directory + "/" + segment
        let whole = try Data(contentsOf: URL(fileURLWithPath: path))
        let ends = Self.recordEnds(whole)
        for position in stride(from: 0, to: whole.count, by: 5) {
            let copy = Self.directory()
            defer { try? FileManager.default.removeItem(atPath: copy) }
            try FileManager.default.createDirectory(atPath: copy, withIntermediateDirectories: true)
            var damaged = whole
            damaged[position] ^= 0x5A
            try damaged.write(to: URL(fileURLWithPath: copy + "/" + segment))
            let (_, replay) = try Self.open(copy)
            let intact = ends.filter { $0 <= position }.count
            #expect(replay.map(\.record) == Array(records.prefix(intact)), "damage at \(position)")
        }
    }

    @Test("segments rotate past their size and are deleted once every record in them is applied")
    func segments() throws {
        let directory = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (journal, _) = try Self.open(directory, segmentBytes: 512)
        for record in Self.records(60) { _ = try journal.append([record]) }
        let files = {
            try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".journal") }.sorted()
        }
        #expect(try files().count > 3)
        journal.removeSegments(appliedThrough: 30)
        let left = try files()
        // Only segments holding a record after 30 stay (the first of them may start at or before 31).
        #expect(left.allSatisfy { UInt64($0.dropLast(8))! > 0 })
        let firsts = left.map { UInt64($0.dropLast(".journal".count))! }
        #expect(firsts.count >= 1 && firsts.dropFirst().allSatisfy { $0 > 31 } && firsts[0] <= 31)
        let (_, replay) = try Self.open(directory, applied: 30)
        #expect(replay.map(\.sequence) == Array(31...60))
    }

    @Test("records the store has not applied but the journal lacks are refused, not skipped")
    func missingRecords() throws {
        let directory = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        do {
            let (journal, _) = try Self.open(directory, applied: 10)
            _ = try journal.append(Self.records(3))
        }
        // The store says it applied only 5: records 6...10 are nowhere.
        #expect(throws: StoreError.self) {
            _ = try Self.open(directory, applied: 5)
        }
    }

    @Test("a store killed with everything only in its journal starts with exactly the whole records, verified clean")
    func storeRecovery() async throws {
        let directory = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var configuration = StoreConfiguration(path: directory, eventFilterBytes: 1 << 16, initialMapSize: 64 << 20)
        configuration.holdsApplierForTesting = true
        let events = Array(try Fixtures.events().prefix(2000))
        var accepted: [Int] = []
        do {
            let store = try EngageStore.running(configuration: configuration)
            _ = try await store.defineActions(Fixtures.actions())
            for start in stride(from: 0, to: events.count, by: 250) {
                accepted.append(try await store.ingest(Array(events[start..<start + 250])).accepted)
            }
            #expect(try store.stats().events == 0, "nothing is applied while the applier is held")
            store.close()
        }
        configuration.holdsApplierForTesting = false
        let journal = directory + "/journal"
        let segment = try #require(try FileManager.default.contentsOfDirectory(atPath: journal).sorted().first)
        let whole = try Data(contentsOf: URL(fileURLWithPath: journal + "/" + segment))
        let ends = Self.recordEnds(whole)
        #expect(ends.count == 1 + accepted.count, "one record for the actions, one per batch")
        for cut in [whole.count, whole.count - 1, ends[4] + 3, ends[4], ends[1] - 1] {
            let copy = Self.directory()
            defer { try? FileManager.default.removeItem(atPath: copy) }
            try FileManager.default.copyItem(atPath: directory, toPath: copy)
            try whole.prefix(cut).write(to: URL(fileURLWithPath: copy + "/journal/" + segment))
            var recovered = configuration
            recovered.path = copy
            let store = try EngageStore.running(configuration: recovered)
            let intact = ends.filter { $0 <= cut }.count
            let expected = accepted.prefix(max(0, intact - 1)).reduce(0, +)
            #expect(try store.stats().events == expected, "cut at \(cut): \(intact) whole records")
            #expect(try store.verify().isClean, "cut at \(cut)")
            store.close()
        }
        // Replayed whole, the store answers like one that applied as it went.
        let replayed = try EngageStore.running(configuration: configuration)
        defer { replayed.close() }
        let reference = try TemporaryStore()
        _ = try await reference.store.defineActions(Fixtures.actions())
        _ = try await reference.ingest(events, batchSize: 250)
        #expect(try replayed.exportedRows(.dailyActivity) == reference.store.exportedRows(.dailyActivity))
        #expect(try replayed.exportedRows(.sessions) == reference.store.exportedRows(.sessions))
    }
}
