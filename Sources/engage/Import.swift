import ArgumentParser
import EngageClient
import EngageCommandLine
import EngageJSONLines
import EngageModel
import EngageOutput
import EngageProtocol
import Foundation

struct Import: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Import JSON-lines files of actions, users and events (in that order).",
        discussion: """
            Each file holds one JSON object per line (SEMANTICS.md "JSON lines input"); '-' reads standard input. \
            Files are streamed in bounded memory and decoded on every core. A file that is not JSON lines (a JSON \
            array, pretty-printed JSON, CSV) is refused at its first line with what to do, and nothing is imported. \
            A bad line is reported on standard error as FILE:LINE: reason: detail (the first 100 per file, then a \
            count) and skipped; nothing else is lost. Lines longer than --max-line-bytes are skipped unread. Action \
            types that the catalog did not hold are registered by the server (core, category uncategorized) and \
            named after the summary; --reject-unknown-actions refuses such events instead. On a terminal, progress \
            shows bytes, percent, rate and time left. Exit status: 0 done (bad lines included), 1 a file that had \
            lines stored nothing or could not be imported, 3 with --strict when any line was rejected.
            """
    )

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: FormatOption

    @Option(name: .long, help: "Actions file (JSON lines).") var actions: String?
    @Option(name: .long, help: "Users file (JSON lines).") var users: String?
    @Option(name: .long, help: "Events file (JSON lines).") var events: String?
    @Option(name: .long, help: "Items per request (1...100000).") var batchSize: Int = 5000
    @Option(name: .long, help: "Batches awaiting acknowledgement at once.") var inFlight: Int = 16
    @Option(
        name: .long,
        help: "Longest line read, in bytes; longer lines are rejected (line_too_long) without being held in memory."
    )
    var maxLineBytes: Int = 1 << 20
    @Flag(
        name: .long,
        help:
            "Refuse events whose action type is not in the catalog (reason unknown_action), instead of letting the server register it."
    )
    var rejectUnknownActions = false
    @Flag(name: .long, help: "Exit with status 3 when any line was rejected.") var strict = false

    static let shownErrorsPerFile = 100

    func validate() throws {
        guard self.actions != nil || self.users != nil || self.events != nil else {
            throw ValidationError("give at least one of --actions, --users, --events")
        }
        guard (1...100_000).contains(self.batchSize) else { throw ValidationError("--batch-size must be 1...100000") }
        guard self.inFlight >= 1 else { throw ValidationError("--in-flight must be at least 1") }
        guard self.maxLineBytes >= 1024 else { throw ValidationError("--max-line-bytes must be at least 1024") }
        let paths = [self.actions, self.users, self.events].compactMap { $0 }
        guard paths.filter({ $0 == "-" }).count <= 1 else {
            throw ValidationError("only one file can be standard input ('-')")
        }
        for path in paths where path != "-" && !FileManager.default.isReadableFile(atPath: path) {
            throw ValidationError("cannot read \(path): no such file, or not readable")
        }
    }

    struct Summary {
        var kind: String
        var file: String
        var lines = 0
        var accepted = 0
        var duplicates = 0
        var rejected = 0
    }

    func run() async throws {
        // Every file's first line is checked before anything is sent, so a wrong file imports nothing.
        for path in [self.actions, self.users, self.events].compactMap({ $0 }) where path != "-" {
            try Self.checkFirstLine(path: path, maximumLineBytes: self.maxLineBytes)
        }
        let cluster: EngageCluster
        do {
            cluster = try await self.connection.client.connectCluster(clientName: "engage-cli")
        } catch let error as EngageClientError {
            throw self.connection.present(error, json: false)
        }
        var summaries: [Summary] = []
        var autoRegistered: [(name: String, events: Int)] = []
        do {
            if let path = self.actions {
                summaries.append(
                    try await self.importFile(path, kind: "actions", parse: Self.parseActions) {
                        try await cluster.defineActions($0)
                    }
                )
            }
            if let path = self.users {
                summaries.append(
                    try await self.importFile(path, kind: "users", parse: Self.parseUsers) {
                        try await cluster.upsertUsers($0)
                    }
                )
            }
            if let path = self.events {
                // The catalog is read by a query, which sees what is applied: the actions this command just
                // defined must be in it (else their events count as unknown, and as registered by this import).
                try await cluster.waitApplied()
                let before = try await Self.catalog(cluster)
                let reject = self.rejectUnknownActions
                var unknownCounts: [String: Int] = [:]
                summaries.append(
                    try await self.importFile(
                        path,
                        kind: "events",
                        parse: { block, size in
                            Self.parseEvents(
                                block,
                                batchSize: size,
                                catalog: before,
                                rejectUnknown: reject,
                                nodeCount: cluster.nodeCount
                            )
                        },
                        unknownActions: { for (name, count) in $0 { unknownCounts[name, default: 0] += count } },
                        send: { try await cluster.nodes[$0.node].ingest($0.batch) }
                    )
                )
                // Queries (the catalog here, a report after the import) must see every acknowledged event.
                try await cluster.waitApplied()
                let after = try await Self.catalog(cluster)
                autoRegistered = after.subtracting(before).map(\.text).sorted().map { ($0, unknownCounts[$0] ?? 0) }
            } else {
                try await cluster.waitApplied()
            }
        } catch let error as EngageClientError {
            try? await cluster.close()
            throw self.connection.present(error, json: false)
        } catch {
            try? await cluster.close()
            throw error
        }
        try? await cluster.close()
        try self.printSummary(summaries, autoRegistered: autoRegistered)
        for summary in summaries where summary.lines > 0 && summary.accepted + summary.duplicates == 0 {
            StandardError.write(
                "engage: nothing from \(summary.file) was stored: all \(summary.lines) of its lines were rejected"
            )
            throw ExitCode(1)
        }
        if self.strict && summaries.contains(where: { $0.rejected > 0 }) { throw ExitCode(3) }
    }

    private func printSummary(_ summaries: [Summary], autoRegistered: [(name: String, events: Int)]) throws {
        var report = Report(name: "import", columns: ["kind", "lines", "accepted", "duplicates", "rejected"])
        for summary in summaries {
            report.rows.append([
                .string(summary.kind), .int(summary.lines), .int(summary.accepted), .int(summary.duplicates),
                .int(summary.rejected),
            ])
        }
        let names = autoRegistered.map { "{\"action_type\": \(Value.quote($0.name)), \"events\": \($0.events)}" }
        report.extraJSON = [("auto_registered_actions", "[" + names.joined(separator: ", ") + "]")]
        try report.print(self.output.format)
        if !autoRegistered.isEmpty && self.output.format != .json {
            let list = autoRegistered.map { "\($0.name) (\(Value.grouped($0.events)) events)" }.joined(separator: ", ")
            StandardError.write(
                "note: action types not in the catalog were registered (core, category uncategorized): \(list). "
                    + "If that was a typo, fix the events, or define the action with --actions; --reject-unknown-actions refuses such events."
            )
        }
    }

    /// The action types in the catalog (of any node: a node registers the unknown actions of its own events),
    /// by their bytes as the server tells them apart.
    static func catalog(_ cluster: EngageCluster) async throws -> Set<UTF8Key> {
        var names = Set<UTF8Key>()
        for node in cluster.nodes {
            try await node.export(.actions) { row in
                if case .text(let name) = row[1] { names.insert(UTF8Key(name)) }
            }
        }
        return names
    }

    // MARK: - The pipeline

    /// One batch ready to send, and the file line of each of its items.
    struct ParsedBatch<Payload: Sendable>: Sendable {
        let payload: Payload
        let lines: [Int]
    }

    /// What decoding one block produced.
    struct ParsedBlock<Payload: Sendable>: Sendable {
        var batches: [ParsedBatch<Payload>] = []
        var errors: [(line: Int, error: LineError)] = []
        var lines = 0
        var bytesThrough = 0
        /// Events per action type the catalog did not hold.
        var unknownActions: [String: Int] = [:]
    }

    /// Streams `path` through decoding (several blocks at once, on every core) and sending (`inFlight`
    /// batches awaiting acknowledgement), reporting every bad line with its number.
    private func importFile<Payload: Sendable>(
        _ path: String,
        kind: String,
        parse: @escaping @Sendable (LineBlock, Int) -> ParsedBlock<Payload>,
        unknownActions: ([String: Int]) -> Void = { _ in },
        send: @escaping @Sendable (Payload) async throws -> BatchResult
    ) async throws -> Summary {
        var reader = try LineBlockReader(path: path, maximumLineBytes: self.maxLineBytes)
        defer { reader.close() }
        let name = path == "-" ? "stdin" : (path as NSString).lastPathComponent
        var summary = Summary(kind: kind, file: path == "-" ? "standard input" : path)
        let errors = ErrorReport(file: name, limit: Self.shownErrorsPerFile)
        let progress = ImportProgress(kind: kind, totalBytes: reader.size, enabled: StandardError.isTerminal)
        let batchSize = self.batchSize
        let workers = max(1, ProcessInfo.processInfo.activeProcessorCount)
        var parsing: [Task<ParsedBlock<Payload>, Never>] = []
        var sending: [(lines: [Int], bytesThrough: Int, task: Task<BatchResult, any Error>)] = []
        var firstBlock = true

        func collectOldest() async throws {
            let (lines, bytesThrough, task) = sending.removeFirst()
            let result = try await task.value
            summary.accepted += result.accepted
            summary.duplicates += result.duplicates
            summary.rejected += result.rejected.count
            for rejection in result.rejected {
                errors.add(
                    line: lines[rejection.index],
                    reason: rejection.reason.name,
                    detail: rejection.reason.explanation
                )
            }
            progress.update(items: lines.count, bytesThrough: bytesThrough)
        }

        while true {
            while parsing.count <= workers, let block = try reader.next() {
                if firstBlock {
                    firstBlock = false
                    if path == "-", let problem = Self.firstLineProblem(block) {
                        throw CLIError("standard input \(problem); nothing was imported from it")
                    }
                }
                parsing.append(Task { parse(block, batchSize) })
            }
            guard !parsing.isEmpty else { break }
            let parsed = await parsing.removeFirst().value
            summary.lines += parsed.lines
            summary.rejected += parsed.errors.count
            for (line, error) in parsed.errors { errors.add(line: line, reason: error.reason, detail: error.detail) }
            unknownActions(parsed.unknownActions)
            for batch in parsed.batches {
                while sending.count >= self.inFlight { try await collectOldest() }
                let payload = batch.payload
                sending.append((batch.lines, parsed.bytesThrough, Task { try await send(payload) }))
            }
        }
        while !sending.isEmpty { try await collectOldest() }
        progress.finish()
        errors.finish()
        return summary
    }

    // MARK: - Decoding, one block at a time (runs concurrently)

    /// An ingest batch and the node it goes to.
    struct RoutedBatch: Sendable {
        let node: Int
        let batch: PreparedIngestBatch
    }

    static func parseEvents(
        _ block: LineBlock,
        batchSize: Int,
        catalog: Set<UTF8Key>,
        rejectUnknown: Bool,
        nodeCount: Int = 1
    ) -> ParsedBlock<RoutedBatch> {
        var batches = EventBatches(
            batchSize: batchSize,
            expectedLines: block.lines.count,
            catalog: catalog,
            rejectUnknown: rejectUnknown,
            nodeCount: nodeCount
        )
        var lines = 0
        var errors: [(line: Int, error: LineError)] = []
        // One captured value, so few exclusivity checks per line (a closure capturing each table and list
        // has every access checked at run time).
        (lines, errors) = self.forEachLine(block) { bytes, line in
            ImportRecords.withEventText(bytes) { batches.take($0, line: line) }
        }
        var parsed = batches.finish()
        parsed.lines = lines
        parsed.errors = errors
        parsed.bytesThrough = block.bytesThrough
        return parsed
    }

    /// Event lines going into INGEST_EVENTS payloads, per node, in their wire form as they come.
    struct EventBatches {
        let batchSize: Int
        let catalog: Set<UTF8Key>
        let rejectUnknown: Bool
        let nodeCount: Int
        var parsed = ParsedBlock<RoutedBatch>()
        var builders: [IngestPayloadBuilder]
        var lines: [[Int]]
        // Per node, by position in the batch's string table: whether that string, as an action, is in the
        // catalog (0: not looked up yet, 1: yes, 2: no); a catalog lookup needs a String, so once per batch.
        var actionKnown: [[UInt8]]

        init(batchSize: Int, expectedLines: Int, catalog: Set<UTF8Key>, rejectUnknown: Bool, nodeCount: Int) {
            self.batchSize = batchSize
            self.catalog = catalog
            self.rejectUnknown = rejectUnknown
            self.nodeCount = nodeCount
            // Sized for what this block can hold, not for --batch-size (which may be far larger than a block).
            let expected = min(batchSize, expectedLines / nodeCount + 1)
            self.builders = (0..<nodeCount).map { _ in IngestPayloadBuilder(expectedEvents: expected) }
            self.lines = [[Int]](repeating: [], count: nodeCount)
            self.actionKnown = [[UInt8]](repeating: [], count: nodeCount)
        }

        /// Adds a line's event to its node's batch, or says why it is refused.
        mutating func take(_ event: ImportRecords.EventText, line: Int) -> LineError? {
            let node = self.nodeCount == 1 ? 0 : NodeRouting.node(ofUTF8: event.userID, nodeCount: self.nodeCount)
            let action = self.builders[node].reference(event.action).reference
            let position = Int(action)
            if position >= self.actionKnown[node].count {
                self.actionKnown[node].append(
                    contentsOf: repeatElement(0, count: position + 1 - self.actionKnown[node].count)
                )
            }
            if self.actionKnown[node][position] == 0 {
                let known = self.catalog.contains(UTF8Key(String(decoding: event.action, as: UTF8.self)))
                self.actionKnown[node][position] = known ? 1 : 2
            }
            if self.actionKnown[node][position] == 2 {
                let name = String(decoding: event.action, as: UTF8.self)
                self.parsed.unknownActions[name, default: 0] += 1
                if self.rejectUnknown {
                    return LineError(
                        reason: "unknown_action",
                        detail:
                            "action '\(name.prefix(64))' is not in the catalog (define it with --actions, or import without --reject-unknown-actions)"
                    )
                }
            }
            let user = self.builders[node].reference(event.userID).reference
            let context =
                event.context.isEmpty ? IngestBatch.noContext : self.builders[node].reference(event.context).reference
            self.builders[node].append(
                userReference: user,
                eventID: event.eventID,
                timestampMs: event.timestampMs,
                actionReference: action,
                contextReference: context,
                metadata: event.metadata
            )
            self.lines[node].append(line)
            if self.builders[node].eventCount >= self.batchSize { self.flush(node) }
            return nil
        }

        /// Every batch, the partial ones included.
        mutating func finish() -> ParsedBlock<RoutedBatch> {
            for node in 0..<self.nodeCount { self.flush(node) }
            return self.parsed
        }

        private mutating func flush(_ node: Int) {
            guard self.builders[node].eventCount > 0 else { return }
            self.parsed.batches.append(
                ParsedBatch(
                    payload: RoutedBatch(node: node, batch: PreparedIngestBatch(&self.builders[node])),
                    lines: self.lines[node]
                )
            )
            self.lines[node].removeAll(keepingCapacity: true)
            self.actionKnown[node].removeAll(keepingCapacity: true)
        }
    }

    static func parseUsers(_ block: LineBlock, batchSize: Int) -> ParsedBlock<[UserProfile]> {
        self.parseRecords(block, batchSize: batchSize, ImportRecords.user)
    }

    static func parseActions(_ block: LineBlock, batchSize: Int) -> ParsedBlock<[ActionDefinition]> {
        self.parseRecords(block, batchSize: batchSize, ImportRecords.action)
    }

    private static func parseRecords<Record: Sendable>(
        _ block: LineBlock,
        batchSize: Int,
        _ decode: (UnsafeRawBufferPointer) -> Result<Record, LineError>
    ) -> ParsedBlock<[Record]> {
        var parsed = ParsedBlock<[Record]>()
        var records: [Record] = []
        var lines: [Int] = []
        (parsed.lines, parsed.errors) = self.forEachLine(block) { bytes, line in
            switch decode(bytes) {
            case .success(let record):
                records.append(record)
                lines.append(line)
                if records.count >= batchSize {
                    parsed.batches.append(ParsedBatch(payload: records, lines: lines))
                    records = []
                    lines = []
                }
                return nil
            case .failure(let error):
                return error
            }
        }
        if !records.isEmpty { parsed.batches.append(ParsedBatch(payload: records, lines: lines)) }
        parsed.bytesThrough = block.bytesThrough
        return parsed
    }

    /// Hands each non-blank line of `block` and its number to `take`, which returns why it refused it, if it
    /// did. Returns the lines counted and the bad ones.
    private static func forEachLine(
        _ block: LineBlock,
        _ take: (UnsafeRawBufferPointer, Int) -> LineError?
    ) -> (lines: Int, errors: [(line: Int, error: LineError)]) {
        var count = 0
        var errors: [(line: Int, error: LineError)] = []
        for line in block.oversizedLines {
            count += 1
            errors.append(
                (
                    line,
                    LineError(
                        reason: "line_too_long",
                        detail: "the line is longer than --max-line-bytes; it was skipped unread"
                    )
                )
            )
        }
        block.bytes.withUnsafeBytes { raw in
            for (offset, range) in block.lines.enumerated() {
                let bytes = UnsafeRawBufferPointer(rebasing: raw[range])
                if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { continue }
                let line = block.firstLineNumber + offset
                count += 1
                if let refusal = take(bytes, line) { errors.append((line, refusal)) }
            }
        }
        return (count, errors)
    }

    // MARK: - Files that are not JSON lines

    /// Refuses a file whose first non-blank line is not a JSON object (a JSON array, pretty-printed JSON, CSV).
    static func checkFirstLine(path: String, maximumLineBytes: Int) throws {
        var reader = try LineBlockReader(path: path, maximumLineBytes: maximumLineBytes)
        defer { reader.close() }
        guard let block = try reader.next() else { return }
        if let problem = self.firstLineProblem(block) { throw CLIError("\(path) \(problem); nothing was imported") }
    }

    /// What is wrong with the block's first non-blank line, if it shows the file is not JSON lines.
    static func firstLineProblem(_ block: LineBlock) -> String? {
        block.bytes.withUnsafeBytes { raw -> String? in
            for (offset, range) in block.lines.enumerated() {
                let bytes = UnsafeRawBufferPointer(rebasing: raw[range])
                guard let first = bytes.first(where: { $0 != 0x20 && $0 != 0x09 }) else { continue }
                let number = block.firstLineNumber + offset
                if first == UInt8(ascii: "[") {
                    return
                        "holds a JSON array, but engage import reads JSON lines: one object per line, no enclosing [ ]. "
                        + "Convert it first, for example: jq -c '.[]' FILE > FILE.jsonl"
                }
                if let error = ImportRecords.objectSyntaxError(bytes) {
                    return
                        "is not JSON lines: line \(number) is not a JSON object (\(error.detail)). engage import reads one JSON "
                        + "object per line; pretty-printed JSON can be converted with: jq -c . FILE > FILE.jsonl"
                }
                return nil
            }
            return nil
        }
    }
}

/// Bad lines on standard error: the first `limit` in full, then only counted.
final class ErrorReport {
    let file: String
    let limit: Int
    private(set) var count = 0

    init(file: String, limit: Int) {
        self.file = file
        self.limit = limit
    }

    func add(line: Int, reason: String, detail: String) {
        self.count += 1
        if self.count <= self.limit { StandardError.write("\(self.file):\(line): \(reason): \(detail)") }
    }

    func finish() {
        if self.count > self.limit {
            StandardError.write(
                "\(self.file): \(Value.grouped(self.count - self.limit)) more bad lines not shown (\(Value.grouped(self.count)) in all)"
            )
        }
    }
}

/// "events: 42.0 MB of 120.3 MB (35%), 245,000 items/s, 31 s left" on standard error, at most once a
/// second, on terminals only.
final class ImportProgress {
    let kind: String
    let totalBytes: Int?
    let enabled: Bool
    let started = Date()
    private var lastPrinted = Date()
    private var items = 0
    private var bytes = 0
    private var printed = false

    init(kind: String, totalBytes: Int?, enabled: Bool) {
        self.kind = kind
        self.totalBytes = totalBytes
        self.enabled = enabled
    }

    func update(items: Int, bytesThrough: Int) {
        self.items += items
        self.bytes = max(self.bytes, bytesThrough)
        guard self.enabled, Date().timeIntervalSince(self.lastPrinted) >= 1 else { return }
        self.lastPrinted = Date()
        self.printed = true
        StandardError.writeRaw("\r\(self.line())   ")
    }

    func finish() {
        guard self.printed else { return }
        StandardError.writeRaw("\r\(self.line())   \n")
    }

    private func line() -> String {
        let elapsed = max(Date().timeIntervalSince(self.started), 0.001)
        let rate = Int(Double(self.items) / elapsed)
        var text = "\(self.kind): \(Self.megabytes(self.bytes))"
        if let total = self.totalBytes, total > 0 {
            let fraction = Double(self.bytes) / Double(total)
            text += " of \(Self.megabytes(total)) (\(Int(fraction * 100))%)"
            if self.bytes > 0 && self.bytes < total {
                let left = elapsed * Double(total - self.bytes) / Double(self.bytes)
                text += ", \(Value.grouped(rate)) items/s, \(Int(left.rounded())) s left"
                return text
            }
        }
        return text + ", \(Value.grouped(rate)) items/s"
    }

    static func megabytes(_ bytes: Int) -> String {
        String(format: "%.1f MB", Double(bytes) / 1_000_000)
    }
}
