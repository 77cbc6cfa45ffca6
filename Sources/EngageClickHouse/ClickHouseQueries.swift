import EngageModel

/// One of clickhouse/queries/*.sql with its placeholder values: the same query `engage query NAME` asks an
/// engaged, as SQL over the tables the sync keeps (output columns and row order as `engage query NAME
/// --format json`).
public struct ClickHouseQuery: Sendable {
    /// The file's name without `.sql`.
    public var file: String
    /// Placeholder values other than `{db}` and `{power_threshold}`, which the target supplies.
    public var values: [String: String]

    public init(file: String, values: [String: String]) {
        self.file = file
        self.values = values
    }

    public static func activity(from: CivilDate, to: CivilDate, _ selection: Selection) -> ClickHouseQuery {
        Self(file: "activity", values: Self.range(from, to).merging(Self.selection(selection)) { $1 })
    }

    public static func activeDays(from: CivilDate, to: CivilDate, _ selection: Selection) -> ClickHouseQuery {
        Self(file: "active_days", values: Self.range(from, to).merging(Self.selection(selection)) { $1 })
    }

    public static func tiers(_ window: TierWindow, _ selection: Selection) -> ClickHouseQuery {
        Self(
            file: "tiers",
            values: Self.range(window.days.lowerBound, window.days.upperBound).merging(Self.selection(selection)) { $1 }
        )
    }

    public static func transitions(_ month: CivilMonth, filters: [DimensionFilter]) -> ClickHouseQuery {
        var values = Self.selection(Selection(filters: filters))
        values["month"] = ClickHouseSQL.date(month.firstDay)
        return Self(file: "transitions", values: values)
    }

    public static func retention(
        period: Period,
        from: CivilDate,
        to: CivilDate,
        periods: Int,
        _ selection: Selection
    ) -> ClickHouseQuery {
        var values = Self.range(from, to).merging(Self.selection(selection)) { $1 }
        values["period"] = ClickHouseSQL.quote(period.rawValue)
        values["periods"] = String(periods)
        return Self(file: "retention", values: values)
    }

    public static func lifecycle(
        period: Period,
        from: CivilDate,
        to: CivilDate,
        filters: [DimensionFilter]
    )
        -> ClickHouseQuery
    {
        var values = Self.range(from, to).merging(Self.selection(Selection(filters: filters))) { $1 }
        values["period"] = ClickHouseSQL.quote(period.rawValue)
        return Self(file: "lifecycle", values: values)
    }

    public static func sessions(from: CivilDate, to: CivilDate, filters: [DimensionFilter]) -> ClickHouseQuery {
        Self(file: "sessions", values: Self.range(from, to).merging(Self.selection(Selection(filters: filters))) { $1 })
    }

    static func range(_ from: CivilDate, _ to: CivilDate) -> [String: String] {
        ["from": ClickHouseSQL.date(from), "to": ClickHouseSQL.date(to)]
    }

    static func selection(_ selection: Selection) -> [String: String] {
        ClickHouseSQL.selectionPlaceholders(filters: selection.filters, breakdown: selection.breakdown)
    }

    /// The SQL to send.
    public func sql(database: String, powerThreshold: Int) throws -> String {
        var values = self.values
        values["db"] = database
        values["power_threshold"] = String(powerThreshold)
        return try ClickHouseSQL.render(ClickHouseSQL.query(self.file), values)
    }
}

extension ClickHouseTarget {
    /// Runs `query` on the entry server (through the Distributed tables on a cluster); rows as JSON objects.
    public func rows(of query: ClickHouseQuery, powerThreshold: Int) async throws -> [[String: JSONValue]] {
        try await self.entry.rows(try query.sql(database: self.database, powerThreshold: powerThreshold))
    }

    /// The values of `dimension` that users hold (the `--where` warning of `engage query`).
    public func heldValues(_ dimension: Dimension) async throws -> Set<String> {
        let column = ClickHouseSQL.column(of: dimension)
        let rows = try await self.entry.rows(
            "SELECT DISTINCT value FROM (SELECT \(column) AS value FROM \(self.entryTable("dim_users")) FINAL) "
                + "WHERE isNotNull(value)"
        )
        return Set(rows.compactMap { $0["value"]?.string })
    }
}
