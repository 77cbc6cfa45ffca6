import ArgumentParser
import EngageClient
import EngageModel
import Foundation

struct Export: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export the data model's star schema as JSON lines or CSV.",
        discussion: """
            TABLE is users (dim_users), actions (dim_actions), dates (dim_date), events (fact_user_actions), \
            sessions (fact_user_sessions) or daily-activity (fact_daily_user_activity); `engage export ddl` prints \
            their CREATE TABLE statements. Rows carry the data model's columns plus natural keys (user_id, date, \
            start_ms, end_ms...). Streams in bounded memory, page by page.
            """
    )

    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "users, actions, dates, events, sessions, daily-activity, or ddl.") var table: String
    @Option(name: .long, help: "First day (dated tables); default: the first day with events.") var from: CivilDate?
    @Option(name: .long, help: "Last day (dated tables); default: the last day with events.") var to: CivilDate?
    @Option(name: .long, help: "jsonl or csv.") var format: OutputFormat = .jsonl
    @Option(name: .long, help: "Write to this file instead of standard output.") var output: String?

    func validate() throws {
        guard self.table == "ddl" || ExportTable(rawValue: self.table) != nil else {
            throw ValidationError("unknown table '\(self.table)': use \(ExportTable.allCases.map(\.rawValue).joined(separator: ", ")) or ddl")
        }
        guard self.format == .jsonl || self.format == .csv else { throw ValidationError("exports are jsonl or csv") }
        if let from, let to, from > to { throw ValidationError("--from must not be after --to") }
    }

    func run() async throws {
        let sink = try OutputSink(path: self.output)
        guard let table = ExportTable(rawValue: self.table) else {
            sink.write(ExportTable.allCases.map(\.ddl).joined(separator: "\n\n") + "\n")
            sink.close()
            return
        }
        let columns = table.columns
        let format = self.format
        if format == .csv { sink.write(columns.map(\.name).joined(separator: ",") + "\n") }
        try await self.connection.withClient { client in
            try await client.export(table, from: self.from, to: self.to) { row in
                switch format {
                case .csv:
                    sink.write(row.map { Report.csvField($0.plain) }.joined(separator: ",") + "\n")
                default:
                    sink.write("{" + zip(columns, row).map { "\(Value.quote($0.name)): \($1.json)" }.joined(separator: ", ") + "}\n")
                }
            }
        }
        sink.close()
    }
}

extension ExportValue {
    var plain: String {
        switch self {
        case .integer(let value): return String(value)
        case .text(let value): return value
        case .boolean(let value): return value ? "true" : "false"
        case .null: return ""
        }
    }

    var json: String {
        switch self {
        case .integer(let value): return String(value)
        case .text(let value): return Value.quote(value)
        case .boolean(let value): return value ? "true" : "false"
        case .null: return "null"
        }
    }
}

/// Buffered output to a file or standard output.
final class OutputSink {
    private let handle: FileHandle
    private var buffer: [UInt8] = []

    init(path: String?) throws {
        if let path {
            guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) else {
                throw CLIError("cannot write \(path)")
            }
            self.handle = handle
        } else {
            self.handle = FileHandle.standardOutput
        }
        self.buffer.reserveCapacity(1 << 16)
    }

    func write(_ text: String) {
        self.buffer.append(contentsOf: text.utf8)
        if self.buffer.count >= 1 << 16 { self.flush() }
    }

    func flush() {
        guard !self.buffer.isEmpty else { return }
        self.handle.write(Data(self.buffer))
        self.buffer.removeAll(keepingCapacity: true)
    }

    func close() {
        self.flush()
        if self.handle !== FileHandle.standardOutput { try? self.handle.close() }
    }
}
