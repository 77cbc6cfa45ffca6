import ArgumentParser
import EngageClickHouse
import EngageModel
import EngageOutput

struct ClickHouseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clickhouse",
        abstract: "The ClickHouse tier: create its tables, keep them in sync with engaged nodes.",
        discussion: """
            clickhouse/README.md describes the tables, the sync and the SQL of `engage query ... --clickhouse`. \
            On a cluster (--cluster), every shard is found through the --url server's system.clusters; its HTTP \
            port is its TCP port plus the --url server's own HTTP-minus-TCP offset.
            """,
        subcommands: [Init.self, Sync.self]
    )
}

/// --url, --database, --cluster.
struct ClickHouseTargetOptions: ParsableArguments {
    @Option(name: .long, help: "A ClickHouse server's HTTP URL (http://host:port/); on a cluster, any of its shards.")
    var url: String

    @Option(name: .long, help: "ClickHouse database.")
    var database: String = "engage"

    @Option(
        name: .long,
        help:
            "Cluster of the server's remote_servers to spread the tables over; without it, the tables are on one server."
    )
    var cluster: String?

    var configuration: ClickHouseConfiguration {
        ClickHouseConfiguration(url: self.url, database: self.database, cluster: self.cluster)
    }

    func connect() async throws -> ClickHouseTarget {
        do {
            return try await ClickHouseTarget.connect(self.configuration)
        } catch let error as ClickHouseError {
            throw CLIError(error.message)
        }
    }
}

extension ClickHouseCommand {
    struct Init: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create the database and tables on every shard (and Distributed tables over them); idempotent.",
            discussion: "`engage export ddl --dialect clickhouse` prints the same statements."
        )

        @OptionGroup var target: ClickHouseTargetOptions

        func run() async throws {
            let target = try await self.target.connect()
            defer { target.shutdown() }
            do {
                try await target.createSchema()
            } catch let error as ClickHouseError {
                throw CLIError(error.message)
            }
            let shards = target.shards.map(\.url).joined(separator: ", ")
            StandardError.write(
                "created the tables of \(target.database) on \(target.shards.count) server(s): \(shards)"
            )
        }
    }
}

extension ClickHouseCommand {
    struct Sync: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Keep ClickHouse equal to one engaged node by following its change feed (exactly once).",
            discussion: """
                Reads the node's checkpoint from ClickHouse (sync_checkpoint, the smallest over the shards), takes the \
                changes after it, writes every unit they rewrote idempotently (upserts by version; sessions by \
                partition replace), and advances the checkpoint on every shard only when all of it is in. Killed at \
                any point (or ClickHouse restarted), the next run sends the same units again: nothing is lost or \
                counted twice. The first sync, and one whose checkpoint the feed no longer holds, exports everything. \
                Run one sync per node, each with its own --node (the node's place in the --server list of imports). \
                Without --once it runs until interrupted, logging each window; `engaged --clickhouse-url` runs the \
                same loop inside the server, with its lag in /metrics.
                """
        )

        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var target: ClickHouseTargetOptions

        @Option(name: .long, help: "This engaged node's number in the deployment (0...65535).")
        var node: Int = 0

        @Flag(name: .long, help: "Sync until caught up with what the node had applied at the start, then exit.")
        var once = false

        @Flag(name: .long, help: "Export everything again (as a first sync does), then follow the feed.")
        var full = false

        @Option(name: .long, help: "Most changes of the feed in one window (one version, one checkpoint).")
        var changesPerWindow: Int = 10_000

        @Option(name: .long, help: "Rows per INSERT.")
        var batchRows: Int = 200_000

        @Option(name: .long, help: "Without --once: milliseconds to wait when caught up before asking again.")
        var pollMs: Int = 500

        @Option(name: .long, help: "Report format of --once: table, json or csv.")
        var format: OutputFormat = .table

        func validate() throws {
            guard (0...65535).contains(self.node) else { throw ValidationError("--node must be 0...65535") }
            guard (1...10_000).contains(self.changesPerWindow) else {
                throw ValidationError("--changes-per-window must be 1...10000")
            }
            guard self.batchRows >= 1 else { throw ValidationError("--batch-rows must be at least 1") }
            guard self.pollMs >= 1 else { throw ValidationError("--poll-ms must be at least 1") }
        }

        func run() async throws {
            let target = try await self.target.connect()
            defer { target.shutdown() }
            let configuration = ClickHouseSyncConfiguration(
                clickhouse: self.target.configuration,
                nodeID: UInt16(self.node),
                changesPerWindow: self.changesPerWindow,
                batchRows: self.batchRows,
                pollInterval: .milliseconds(self.pollMs)
            )
            try await self.connection.withClient { client in
                let sync = ClickHouseSync(source: client, target: target, configuration: configuration)
                do {
                    if self.once || self.full {
                        let windows = try await sync.syncOnce(full: self.full)
                        if self.once {
                            try self.report(windows, checkpoint: try await sync.checkpoint())
                            return
                        }
                    }
                    try await sync.run()
                } catch let error as ClickHouseError {
                    throw CLIError(error.message)
                }
            }
        }

        func report(_ windows: [SyncWindow], checkpoint: UInt64) throws {
            var report = Report(
                name: "clickhouse_sync",
                columns: [
                    "node", "version", "changes", "full", "users", "daily_rows", "sessions", "session_days", "events",
                    "seconds", "rows_per_second", "daily_rows_per_second",
                ]
            )
            for window in windows {
                report.rows.append([
                    .int(self.node), .int(Int(window.version)), .int(window.changes), .bool(window.full),
                    .int(window.users), .int(window.dailyRows), .int(window.sessionRows), .int(window.sessionDays),
                    .int(window.eventRows), .ratio(window.seconds),
                    .int(window.seconds > 0 ? Int((Double(window.rows) / window.seconds).rounded()) : 0),
                    .int(window.dailySeconds > 0 ? Int((Double(window.dailyRows) / window.dailySeconds).rounded()) : 0),
                ])
            }
            report.extraJSON = [("checkpoint", String(checkpoint))]
            try report.print(self.format)
            if self.format != .json {
                StandardError.write("node \(self.node) synced to sequence \(checkpoint) on \(self.target.url)")
            }
        }
    }
}
