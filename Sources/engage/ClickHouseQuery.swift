import ArgumentParser
import EngageClickHouse
import EngageModel
import EngageOutput

/// `--clickhouse URL` and its companions: the query runs as SQL (clickhouse/queries/) on ClickHouse instead
/// of on an engaged, and prints exactly what it prints against one engaged holding all the users.
struct ClickHouseQueryOptions: ParsableArguments {
    @Option(
        name: .customLong("clickhouse"),
        help:
            "Run the query on this ClickHouse (http://host:port/) instead of engaged: the tables `engage clickhouse sync` keeps."
    )
    var url: String?

    @Option(name: .long, help: "ClickHouse database (with --clickhouse).")
    var database: String = "engage"

    @Option(name: .long, help: "ClickHouse cluster of remote_servers the tables are spread over (with --clickhouse).")
    var cluster: String?

    @Option(
        name: .long,
        help: "Power tier threshold P of the engaged nodes (with --clickhouse; tiers and transitions)."
    )
    var powerThreshold: Int = 20

    func validate() throws {
        if self.url == nil && (self.cluster != nil || self.database != "engage" || self.powerThreshold != 20) {
            throw ValidationError("--database, --cluster and --power-threshold go with --clickhouse")
        }
        guard self.powerThreshold >= 1 else { throw ValidationError("--power-threshold must be at least 1") }
    }

    /// How a result column's JSON values become cells.
    enum Cell {
        /// Text: names, dates, the group.
        case string
        /// An integer that is never null.
        case int
        /// An integer, null when unknown.
        case count
        /// A ratio already rounded to 6 decimals by the SQL, null when unknown.
        case ratio
    }

    /// Runs `query` and prints its rows as the report `name` with `columns`, as the engaged form would.
    func run(
        _ query: ClickHouseQuery,
        name: String,
        columns: [(String, Cell)],
        format: OutputFormat,
        filters: FilterOptions?
    ) async throws {
        guard let url = self.url else { return }
        let target: ClickHouseTarget
        do {
            target = try await ClickHouseTarget.connect(
                ClickHouseConfiguration(url: url, database: self.database, cluster: self.cluster)
            )
        } catch let error as ClickHouseError {
            throw CLIError(error.message)
        }
        defer { target.shutdown() }
        var report = Report(name: name, columns: columns.map(\.0))
        do {
            if let filters {
                try await filters.warnAboutUnheldValues(heldValues: { try await target.heldValues($0).sorted() })
            }
            for row in try await target.rows(of: query, powerThreshold: self.powerThreshold) {
                report.rows.append(
                    try columns.map { column, cell in
                        guard let value = row[column] else {
                            throw CLIError("ClickHouse's answer to \(query.file).sql has no column \(column)")
                        }
                        return try Self.cell(value, cell, column: column)
                    }
                )
            }
        } catch let error as ClickHouseError {
            throw CLIError(error.message)
        }
        try report.print(format)
    }

    static func cell(_ value: JSONValue, _ cell: Cell, column: String) throws -> Value {
        if value.isNull && (cell == .count || cell == .ratio) { return .null }
        switch cell {
        case .string:
            if let text = value.string { return .string(text) }
        case .int, .count:
            if let number = value.int { return .int(number) }
        case .ratio:
            if let number = value.double { return .ratio(number) }
        }
        throw CLIError("ClickHouse answered \(value) for the column \(column)")
    }
}
