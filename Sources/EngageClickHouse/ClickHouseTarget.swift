import EngageModel
import Logging

/// Where Engage's tables live in ClickHouse: a server (the entry point), a database and, on a cluster, the
/// cluster's name in `remote_servers`.
public struct ClickHouseConfiguration: Sendable {
    /// `http://host:port/` of the entry server.
    public var url: String
    public var database: String
    /// A cluster of the entry server's `remote_servers`; nil for a single server (local tables only).
    public var cluster: String?
    /// The longest any one HTTP request may take (large inserts included).
    public var requestTimeout: Duration

    public init(
        url: String,
        database: String = "engage",
        cluster: String? = nil,
        requestTimeout: Duration = .seconds(600)
    ) {
        self.url = url
        self.database = database
        self.cluster = cluster
        self.requestTimeout = requestTimeout
    }
}

/// A connected ClickHouse target: the entry server and, on a cluster, every shard's server (found through
/// the entry server's `system.clusters`).
///
/// A shard's HTTP port is not in `system.clusters` (its native TCP port is): it is taken as the shard's TCP
/// port plus the entry server's offset between its HTTP port (the URL's) and its own TCP port (the row of
/// `system.clusters` with `is_local = 1`). Servers that all use the defaults (8123 and 9000) and the
/// servers of `tools/clickhouse` (HTTP = TCP - 1) both follow it.
public final class ClickHouseTarget: Sendable {
    public let configuration: ClickHouseConfiguration
    public let entry: ClickHouseHTTP
    /// Every shard's server (one per shard and replica); on a single server, the entry alone.
    public let shards: [ClickHouseHTTP]
    public let database: String

    init(configuration: ClickHouseConfiguration, entry: ClickHouseHTTP, shards: [ClickHouseHTTP]) {
        self.configuration = configuration
        self.entry = entry
        self.shards = shards
        self.database = configuration.database
    }

    public var isCluster: Bool { self.configuration.cluster != nil }

    /// The name of a sharded table's local part on each shard (`dim_users_local` on a cluster).
    public func local(_ table: String) -> String { "\(self.database).\(table)\(self.isCluster ? "_local" : "")" }

    /// The name every row of a sharded table is read and written through (the Distributed table on a cluster).
    public func entryTable(_ table: String) -> String { "\(self.database).\(table)" }

    /// Connects to the entry server and finds the cluster's shards.
    public static func connect(
        _ configuration: ClickHouseConfiguration,
        logger: Logger? = nil
    ) async throws
        -> ClickHouseTarget
    {
        _ = try ClickHouseSQL.identifier(configuration.database, what: "database")
        let entry = try ClickHouseHTTP(url: configuration.url, requestTimeout: configuration.requestTimeout)
        guard let cluster = configuration.cluster else {
            _ = try await entry.value("SELECT 1")
            return ClickHouseTarget(configuration: configuration, entry: entry, shards: [entry])
        }
        _ = try ClickHouseSQL.identifier(cluster, what: "cluster")
        let rows = try await entry.rows(
            "SELECT shard_num, replica_num, host_address, port, is_local FROM system.clusters WHERE cluster = "
                + ClickHouseSQL.quote(cluster) + " ORDER BY shard_num, replica_num"
        )
        guard !rows.isEmpty else {
            let known = try await entry.rows("SELECT DISTINCT cluster FROM system.clusters ORDER BY cluster")
                .compactMap { $0["cluster"]?.string }
            throw ClickHouseError(
                .cluster,
                "\(entry.url) has no cluster '\(cluster)' in system.clusters"
                    + (known.isEmpty ? " (it has none)" : " (it has: \(known.joined(separator: ", ")))")
            )
        }
        let entryPort = entry.port
        guard let localPort = rows.first(where: { $0["is_local"]?.int == 1 })?["port"]?.int else {
            throw ClickHouseError(
                .cluster,
                "\(entry.url) is not itself a shard of '\(cluster)': give the URL of one of its servers"
            )
        }
        var shards: [ClickHouseHTTP] = []
        for row in rows {
            guard let host = row["host_address"]?.string, let port = row["port"]?.int else {
                throw ClickHouseError(.badResponse, "system.clusters row without host_address or port: \(row)")
            }
            shards.append(try entry.sibling(host: host, port: port + entryPort - localPort))
        }
        logger?.debug("cluster \(cluster): \(shards.map(\.url).joined(separator: ", "))")
        return ClickHouseTarget(configuration: configuration, entry: entry, shards: shards)
    }

    /// The schema's statements for this target: local.sql (and distributed.sql on a cluster) rendered.
    public static func schemaStatements(database: String, cluster: String?) throws -> [String] {
        let values = ["db": database, "cluster": cluster ?? "", "local": cluster == nil ? "" : "_local"]
        var statements = ClickHouseSQL.statements(try ClickHouseSQL.render(ClickHouseSQL.schema("local"), values))
        if cluster != nil {
            statements += ClickHouseSQL.statements(
                try ClickHouseSQL.render(ClickHouseSQL.schema("distributed"), values)
            )
        }
        return statements
    }

    /// Creates the database and every table on every shard (idempotent: IF NOT EXISTS).
    public func createSchema() async throws {
        let statements = try Self.schemaStatements(database: self.database, cluster: self.configuration.cluster)
        for shard in self.shards {
            for statement in statements { try await shard.execute(statement) }
        }
    }

    /// Closes the kept-alive connections.
    public func shutdown() {
        for shard in self.shards { shard.shutdown() }
        self.entry.shutdown()
    }
}
