import ArgumentParser
import EngageClient
import EngageModel
import EngageOutput
import Foundation

struct Export: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export the data model's star schema as JSON lines or CSV.",
        discussion: """
            TABLE is users (dim_users), actions (dim_actions), dates (dim_date), events (fact_user_actions), \
            sessions (fact_user_sessions) or daily-activity (fact_daily_user_activity); `engage export ddl` prints \
            their CREATE TABLE statements. Rows carry the data model's columns plus natural keys (user_id, date, \
            start_ms, end_ms...). Streams in bounded memory, page by page. With --output, rows go to a temporary \
            file beside it that replaces FILE only once the export is complete: a failed export leaves FILE as it was.
            """
    )

    enum Format: String, ExpressibleByArgument, CaseIterable { case jsonl, csv }

    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "users, actions, dates, events, sessions, daily-activity, or ddl.") var table: String
    @Option(name: .long, help: "First day (dated tables); default: the first day with events.") var from: CivilDate?
    @Option(name: .long, help: "Last day (dated tables); default: the last day with events.") var to: CivilDate?
    @Option(name: .long, help: "Output format: jsonl or csv.") var format: Format = .jsonl
    @Option(
        name: .long,
        help: "Write to this file (replaced only when the export succeeds) instead of standard output."
    ) var output: String?
    @Option(name: .long, help: "ddl only: standard (SQLite, DuckDB, PostgreSQL) or clickhouse.") var dialect:
        DDLDialect = .standard
    @Option(name: .long, help: "ddl --dialect clickhouse: the database.") var database: String = "engage"
    @Option(
        name: .long,
        help:
            "ddl --dialect clickhouse: local tables and Distributed tables over this cluster; without it, the tables are on one server."
    ) var cluster: String?

    func validate() throws {
        guard self.table == "ddl" || ExportTable(rawValue: self.table) != nil else {
            throw ValidationError(
                "unknown table '\(self.table)': use \(ExportTable.allCases.map(\.rawValue).joined(separator: ", ")) or ddl"
            )
        }
        if let from, let to, from > to { throw ValidationError("--from \(from) is after --to \(to)") }
        if self.table != "ddl" && (self.dialect != .standard || self.cluster != nil || self.database != "engage") {
            throw ValidationError("--dialect, --database and --cluster go with ddl")
        }
    }

    func run() async throws {
        guard let table = ExportTable(rawValue: self.table) else {
            let text: String
            switch self.dialect {
            case .standard: text = ExportTable.allCases.map(\.ddl).joined(separator: "\n\n")
            case .clickhouse: text = try clickHouseDDL(database: self.database, cluster: self.cluster)
            }
            let sink = try OutputSink(path: self.output)
            try sink.write(text + "\n")
            try sink.commit()
            return
        }
        // Connect before touching --output: a server that is down leaves the file as it was.
        let client = try await self.connection.connect()
        let sink: OutputSink
        do {
            sink = try OutputSink(path: self.output)
        } catch {
            try? await client.close()
            throw error
        }
        let columns = table.columns
        let format = self.format
        do {
            if format == .csv { try sink.write(columns.map(\.name).joined(separator: ",") + "\n") }
            try await client.export(table, from: self.from, to: self.to) { row in
                switch format {
                case .csv:
                    try sink.write(row.map { Report.csvField($0.plain) }.joined(separator: ",") + "\n")
                case .jsonl:
                    try sink.write(
                        "{" + zip(columns, row).map { "\(Value.quote($0.name)): \($1.json)" }.joined(separator: ", ")
                            + "}\n"
                    )
                }
            }
            try sink.commit()
            try? await client.close()
        } catch {
            sink.abandon()
            try? await client.close()
            if let error = error as? EngageClientError { throw self.connection.present(error, json: false) }
            throw error
        }
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

/// Buffered output to standard output, or to a file that appears only when complete: rows go to a hidden
/// temporary file in the same directory (so the rename stays on one file system), which ``commit()`` renames
/// over the target and ``abandon()`` removes. Standard output closed by its reader ends the command quietly.
final class OutputSink {
    private let descriptor: Int32
    private let target: String?
    private let temporary: String?
    private var buffer: [UInt8] = []

    init(path: String?) throws {
        guard let path else {
            self.descriptor = 1
            self.target = nil
            self.temporary = nil
            return
        }
        let url = URL(fileURLWithPath: path)
        let temporary = url.deletingLastPathComponent().appendingPathComponent(
            ".\(url.lastPathComponent).tmp-\(getpid())"
        ).path
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw CLIError("cannot write next to \(path): \(String(cString: strerror(errno)))")
        }
        self.descriptor = descriptor
        self.target = path
        self.temporary = temporary
        self.buffer.reserveCapacity(1 << 16)
    }

    func write(_ text: String) throws {
        self.buffer.append(contentsOf: text.utf8)
        if self.buffer.count >= 1 << 16 { try self.flush() }
    }

    private func flush() throws {
        guard !self.buffer.isEmpty else { return }
        defer { self.buffer.removeAll(keepingCapacity: true) }
        if self.target == nil {
            try StandardOutput.write(bytes: self.buffer)
        } else if !StandardOutput.write(self.buffer, to: self.descriptor) {
            throw CLIError("cannot write \(self.temporary!): \(String(cString: strerror(errno)))")
        }
    }

    /// Writes what is buffered and, for a file, moves it into place.
    func commit() throws {
        try self.flush()
        guard let target, let temporary else { return }
        guard fsync(self.descriptor) == 0, close(self.descriptor) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw CLIError("cannot write \(temporary): \(reason)")
        }
        guard rename(temporary, target) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw CLIError("cannot replace \(target): \(reason)")
        }
    }

    /// Drops the temporary file; the target stays as it was.
    func abandon() {
        guard let temporary else { return }
        close(self.descriptor)
        unlink(temporary)
    }
}
