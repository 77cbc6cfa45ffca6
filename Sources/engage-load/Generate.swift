import ArgumentParser
import EngageModel
import EngageWorkload
import Foundation

/// Writes the simulated population as the three JSON-lines files of `engage import`: the same users and
/// events (same seed, same event ids) that `engage-load ingest` sends.
struct Generate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Write the simulated population as JSON-lines files (actions.jsonl, users.jsonl, events.jsonl) for engage import."
    )

    @Option(name: .long, help: "Directory to write the three files into (created if missing).") var output: String
    @Option(name: .long, help: "Users in the simulated population.") var users: Int = 100_000
    @Option(name: .long, help: "Events to write (duplicates included).") var events: Int = 1_000_000
    @Option(name: .long, help: "Seed of the population (same seed, same event ids).") var seed: UInt64 = 1
    @Option(name: .long, help: "Simulated days; without it, as many as the population needs for --events.") var days:
        Int?
    @Option(name: .long, help: "Share of events that carry metadata.") var metadataShare: Double = 0.1

    func validate() throws {
        guard self.users >= 1, self.events >= 1 else { throw ValidationError("--users and --events must be positive") }
        guard (0...1).contains(self.metadataShare) else { throw ValidationError("--metadata-share must be 0...1") }
    }

    func run() async throws {
        try FileManager.default.createDirectory(atPath: self.output, withIntermediateDirectories: true)
        let stream = EventStream(
            WorkloadConfiguration(
                users: self.users,
                events: self.events,
                seed: self.seed,
                lateShare: 0.02,
                duplicateShare: 0.01,
                endMs: Int64(Date().timeIntervalSince1970 * 1000),
                days: self.days
            )
        )
        try Self.write(
            self.output + "/actions.jsonl",
            SimulatedCatalog.actions.map { action in
                "{\"action_type\": \(Self.quote(action.actionType)), \"action_category\": \(Self.quote(action.category)), "
                    + "\"engagement_weight\": \(action.engagementWeight), \"is_core_action\": \(action.isCoreAction)}"
            }
        )
        try Self.write(
            self.output + "/users.jsonl",
            stream.population.users.map { user in
                var fields = ["\"user_id\": \(Self.quote(user.id))"]
                if let date = user.profile.registrationDate { fields.append("\"registration_date\": \"\(date)\"") }
                for attribute in Attribute.allCases {
                    if let value = user.profile.attributes[attribute] {
                        fields.append("\"\(attribute.rawValue)\": \(Self.quote(value))")
                    }
                }
                return "{" + fields.joined(separator: ", ") + "}"
            }
        )
        var random = WorkloadRandom(seed: self.seed ^ 0x6D65_7461)
        let share = self.metadataShare
        try Self.write(
            self.output + "/events.jsonl",
            stream.lazy.map { event in
                var line =
                    "{\"event_id\": \(Self.quote(event.eventID)), \"user_id\": \(Self.quote(event.userID)), "
                    + "\"ts\": \"\(Timestamp.formatISO8601(event.timestampMs))\", \"action\": \(Self.quote(event.action))"
                if !event.context.isEmpty { line += ", \"context\": \(Self.quote(event.context))" }
                if random.unit() < share {
                    line +=
                        ", \"metadata\": {\"campaign\": \"c\(random.next() % 50)\", \"score\": \(random.next() % 1000)}"
                }
                return line + "}"
            }
        )
    }

    /// Writes one line per element, through a large buffer.
    static func write(_ path: String, _ lines: some Sequence<String>) throws {
        guard FileManager.default.createFile(atPath: path, contents: nil),
            let handle = FileHandle(forWritingAtPath: path)
        else {
            throw ValidationError("cannot write \(path)")
        }
        defer { try? handle.close() }
        var buffer: [UInt8] = []
        buffer.reserveCapacity(1 << 20)
        for line in lines {
            buffer.append(contentsOf: line.utf8)
            buffer.append(0x0A)
            if buffer.count >= 1 << 20 {
                try handle.write(contentsOf: buffer)
                buffer.removeAll(keepingCapacity: true)
            }
        }
        try handle.write(contentsOf: buffer)
    }

    static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case let c where c.value < 0x20: out += String(format: "\\u%04x", c.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
