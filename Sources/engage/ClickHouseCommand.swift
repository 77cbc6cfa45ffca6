import ArgumentParser
import EngageClickHouse
import EngageModel

struct ClickHouseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clickhouse",
        abstract: "The ClickHouse tier: create its tables, keep them in sync with engaged nodes.",
        discussion: """
            clickhouse/README.md describes the tables, the sync and the SQL of `engage query ... --clickhouse`. \
            On a cluster (--cluster), every shard is found through the --url server's system.clusters; its HTTP \
            port is its TCP port plus the --url server's own HTTP-minus-TCP offset.
            """,
        subcommands: [Init.self]
    )
}

/// --url, --database, --cluster.
struct ClickHouseTargetOptions: ParsableArguments {
    @Option(name: .long, help: "A ClickHouse server's HTTP URL (http://host:port/); on a cluster, any of its shards.")
    var url: String

    @Option(name: .long, help: "ClickHouse database.")
    var database: String = "engage"

    @Option(name: .long, help: "Cluster of the server's remote_servers to spread the tables over (default: one server).")
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
            StandardError.write("created the tables of \(target.database) on \(target.shards.count) server(s): \(shards)")
        }
    }
}
