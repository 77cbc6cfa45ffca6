import ArgumentParser
import EngageClient
import EngageModel
import EngageOutput

struct Admin: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check and repair the server's derived records.",
        subcommands: [Verify.self, Rebuild.self, Backup.self]
    )

    struct Backup: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Take a consistent online copy of the server's data directory (compacted).",
            discussion:
                "DIR is a path on the server's machine; it must be new or empty. Ingestion goes on meanwhile; `engaged --data DIR` starts from the copy."
        )

        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Directory for the copy, on the server's machine.") var directory: String

        func run() async throws {
            let bytes = try await self.connection.withClient { try await $0.backup(to: self.directory) }
            try StandardOutput.write("backup written to \(self.directory) (\(Value.grouped(bytes)) bytes)\n")
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Recompute every derived record from the raw events and report each difference.",
            discussion: "Changes nothing. Exits 1 when there is any difference. Ingestion waits while it runs."
        )

        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var output: FormatOption
        @Option(name: .long, help: "Most differences listed (all are counted).") var maxReported: Int = 1000

        func run() async throws {
            let report = try await self.connection.withClient(json: self.output.format == .json) {
                try await $0.verify(maximumReported: self.maxReported)
            }
            var issues = Report(name: "verify", columns: ["table", "record", "difference"])
            for issue in report.issues {
                issues.rows.append([.string(issue.table), .string(issue.key), .string(issue.detail)])
            }
            if self.output.format == .table {
                let checked = report.checked.keys.sorted().map { "\($0) \(Value.grouped(report.checked[$0]!))" }.joined(
                    separator: ", "
                )
                try StandardOutput.write("checked: \(checked)\n")
                try StandardOutput.write(report.isClean ? "no differences\n" : "\(report.totalIssues) differences\n")
                if !report.isClean { try issues.print(.table) }
            } else {
                try issues.print(self.output.format)
            }
            if !report.isClean { throw ExitCode(1) }
        }
    }

    struct Rebuild: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Re-derive every derived record (daily activity, sessions, tiers, day sets, counters) from the raw events."
        )

        @OptionGroup var connection: ConnectionOptions

        func run() async throws {
            try await self.connection.withClient { try await $0.rebuild() }
            try StandardOutput.write("rebuilt every derived record from the raw events\n")
        }
    }
}
