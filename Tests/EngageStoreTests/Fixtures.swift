import EngageJSONLines
import EngageModel
import EngageStore
import EngageTestSupport
import Foundation

/// The conformance data set (copied from the contract into Tests/Fixtures/conformance).
enum Fixtures {
    static let directory = RepositoryPaths.conformance

    static func lines(_ name: String) throws -> [String] {
        let text = try String(contentsOf: self.directory.appendingPathComponent(name), encoding: .utf8)
        return text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
    }

    static func actions() throws -> [ActionDefinition] {
        try self.lines("actions.jsonl").map { try ImportRecords.action($0).get() }
    }

    static func users() throws -> [UserProfile] {
        try self.lines("users.jsonl").map { try ImportRecords.user($0).get() }
    }

    static func events() throws -> [Event] {
        try self.lines("events.jsonl").map { try ImportRecords.event($0).get() }
    }

    /// expected.json (UTC) or expected_america_new_york.json.
    static func expected(timeZone: String) throws -> [String: Any] {
        let name = timeZone == "UTC" ? "expected.json" : "expected_america_new_york.json"
        let data = try Data(contentsOf: self.directory.appendingPathComponent(name))
        return try JSONSerialization.jsonObject(with: data) as! [String: Any]
    }
}

/// A store in a fresh temporary directory, removed when the test ends.
final class TemporaryStore {
    let directory: String
    let store: EngageStore

    init(
        timeZone: String = "UTC",
        sessionGapMs: Int64? = nil,
        powerThreshold: Int? = nil,
        defaultCore: Bool? = nil
    ) throws {
        self.directory = NSTemporaryDirectory() + "engage-test-" + UUID().uuidString
        self.store = try EngageStore.running(
            configuration: StoreConfiguration(
                path: self.directory,
                timeZone: timeZone,
                sessionGapMs: sessionGapMs,
                powerThreshold: powerThreshold,
                autoRegisteredActionsAreCore: defaultCore,
                eventFilterBytes: StoreConfiguration.testEventFilterBytes,
                initialMapSize: StoreConfiguration.testInitialMapSize,
                unsafeNoSync: true
            )
        )
    }

    deinit {
        self.store.close()
        try? FileManager.default.removeItem(atPath: self.directory)
    }

    func ingest(_ events: [Event], batchSize: Int = 1000) async throws -> BatchResult {
        var total = BatchResult()
        var start = 0
        while start < events.count {
            let slice = Array(events[start..<min(start + batchSize, events.count)])
            let result = try await self.store.ingest(slice)
            total.accepted += result.accepted
            total.duplicates += result.duplicates
            total.rejected += result.rejected.map { Rejection(index: $0.index + start, reason: $0.reason) }
            start += batchSize
        }
        // Acknowledged is durable; what follows reads, so wait until it is applied too.
        _ = try await self.store.waitApplied()
        return total
    }
}

extension Double {
    /// Rounded to 6 decimals, as the contract compares floats.
    var rounded6: Double { (self * 1_000_000).rounded() / 1_000_000 }
}

extension EngageStore {
    /// Every row of an export table over [from, to], each value as text by column name (booleans `true` or
    /// `false`, null `null`).
    func exportedRows(_ table: ExportTable, from: CivilDate? = nil, to: CivilDate? = nil) throws -> [[String: String]] {
        var rows: [[String: String]] = []
        try self.export(table, from: from, to: to) { values in
            var row: [String: String] = [:]
            for (column, value) in zip(table.columns, values) {
                switch value {
                case .integer(let number): row[column.name] = String(number)
                case .text(let text): row[column.name] = text
                case .boolean(let flag): row[column.name] = flag ? "true" : "false"
                case .null: row[column.name] = "null"
                }
            }
            rows.append(row)
        }
        return rows
    }
}

extension StoreConfiguration {
    static let testEventFilterBytes = 1 << 16
    static let testInitialMapSize = 64 << 20

    /// A small store without disk syncs, for tests that reopen their directory (``TemporaryStore`` removes its
    /// own when it goes away).
    static func forTests(path: String) -> StoreConfiguration {
        StoreConfiguration(
            path: path,
            eventFilterBytes: Self.testEventFilterBytes,
            initialMapSize: Self.testInitialMapSize,
            unsafeNoSync: true
        )
    }
}
