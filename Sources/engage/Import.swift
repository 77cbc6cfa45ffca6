import ArgumentParser
import EngageClient
import EngageModel
import Foundation

struct Import: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Import JSON-lines files of actions, users and events (in that order).",
        discussion: """
            Files are streamed in bounded memory; '-' reads standard input. A bad line is reported on standard \
            error as FILE:LINE: reason: detail and skipped; nothing else is lost. On a terminal, progress (events/s) \
            is shown once a second. The summary has one row per file kind: lines, accepted, duplicates, rejected.
            """
    )

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: FormatOption

    @Option(name: .long, help: "Actions file (JSON lines).") var actions: String?
    @Option(name: .long, help: "Users file (JSON lines).") var users: String?
    @Option(name: .long, help: "Events file (JSON lines).") var events: String?
    @Option(name: .long, help: "Items per request.") var batchSize: Int = 5000
    @Option(name: .long, help: "Batches awaiting acknowledgement at once.") var inFlight: Int = 4
    @Flag(name: .long, help: "Exit with status 3 when any line was rejected.") var strict = false

    func validate() throws {
        guard self.actions != nil || self.users != nil || self.events != nil else {
            throw ValidationError("give at least one of --actions, --users, --events")
        }
        guard self.batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1") }
        guard self.inFlight >= 1 else { throw ValidationError("--in-flight must be at least 1") }
    }

    struct Summary {
        var kind: String
        var lines = 0
        var accepted = 0
        var duplicates = 0
        var rejected = 0
    }

    func run() async throws {
        let client = try await self.connection.connect()
        var summaries: [Summary] = []
        do {
            if let path = self.actions {
                summaries.append(try await self.importRecords(path, kind: "actions", parse: JSONLineRecords.action) { try await client.defineActions($0) })
            }
            if let path = self.users {
                summaries.append(try await self.importRecords(path, kind: "users", parse: JSONLineRecords.user) { try await client.upsertUsers($0) })
            }
            if let path = self.events {
                summaries.append(try await self.importRecords(path, kind: "events", parse: JSONLineRecords.event) { try await client.ingest($0) })
            }
        } catch {
            try? await client.close()
            throw error
        }
        try? await client.close()
        var report = Report(name: "import", columns: ["kind", "lines", "accepted", "duplicates", "rejected"])
        for summary in summaries {
            report.rows.append([.string(summary.kind), .int(summary.lines), .int(summary.accepted), .int(summary.duplicates), .int(summary.rejected)])
        }
        report.print(self.output.format)
        if self.strict && summaries.contains(where: { $0.rejected > 0 }) { throw ExitCode(3) }
    }

    /// Streams `path`, sending batches of parsed records with up to `inFlight` awaiting acknowledgement,
    /// and reports every bad line (parse errors here, rejections from the server) with its line number.
    private func importRecords<Record: Sendable>(
        _ path: String,
        kind: String,
        parse: (String) -> Result<Record, LineError>,
        send: @escaping @Sendable ([Record]) async throws -> BatchResult
    ) async throws -> Summary {
        var reader = try LineReader(path: path)
        let name = path == "-" ? "stdin" : (path as NSString).lastPathComponent
        var summary = Summary(kind: kind)
        var batch: [Record] = []
        var batchLines: [Int] = []
        var inFlight: [(lines: [Int], task: Task<BatchResult, any Error>)] = []
        let progress = Progress(kind: kind, enabled: StandardError.isTerminal)

        func collectOldest() async throws {
            let (lines, task) = inFlight.removeFirst()
            let result = try await task.value
            summary.accepted += result.accepted
            summary.duplicates += result.duplicates
            summary.rejected += result.rejected.count
            for rejection in result.rejected {
                StandardError.write("\(name):\(lines[rejection.index]): \(rejection.reason.name): \(rejection.reason.explanation)")
            }
            progress.acknowledged(result.accepted + result.duplicates + result.rejected.count)
        }
        func flush() async throws {
            guard !batch.isEmpty else { return }
            while inFlight.count >= self.inFlight { try await collectOldest() }
            let records = batch
            inFlight.append((batchLines, Task { try await send(records) }))
            batch.removeAll(keepingCapacity: true)
            batchLines.removeAll(keepingCapacity: true)
        }

        while let line = try reader.next() {
            if line.allSatisfy({ $0 == " " || $0 == "\t" }) { continue }
            summary.lines += 1
            switch parse(line) {
            case .success(let record):
                batch.append(record)
                batchLines.append(reader.lineNumber)
                if batch.count >= self.batchSize { try await flush() }
            case .failure(let error):
                summary.rejected += 1
                StandardError.write("\(name):\(reader.lineNumber): \(error.reason): \(error.detail)")
            }
        }
        try await flush()
        while !inFlight.isEmpty { try await collectOldest() }
        progress.finish()
        return summary
    }
}

/// "events: 1,200,000 acknowledged, 245,000/s" on standard error, at most once a second, on terminals only.
final class Progress {
    let kind: String
    let enabled: Bool
    let started = Date()
    var lastPrinted = Date()
    var count = 0

    init(kind: String, enabled: Bool) {
        self.kind = kind
        self.enabled = enabled
    }

    func acknowledged(_ items: Int) {
        self.count += items
        guard self.enabled, Date().timeIntervalSince(self.lastPrinted) >= 1 else { return }
        self.lastPrinted = Date()
        let rate = Double(self.count) / max(Date().timeIntervalSince(self.started), 0.001)
        FileHandle.standardError.write(Data("\r\(self.kind): \(self.count) acknowledged, \(Int(rate))/s   ".utf8))
    }

    func finish() {
        guard self.enabled, Date().timeIntervalSince(self.started) >= 1 else { return }
        let rate = Double(self.count) / max(Date().timeIntervalSince(self.started), 0.001)
        FileHandle.standardError.write(Data("\r\(self.kind): \(self.count) acknowledged, \(Int(rate))/s   \n".utf8))
    }
}
