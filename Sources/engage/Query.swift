import ArgumentParser
import EngageClickHouse
import EngageClient
import EngageModel
import EngageOutput
import Foundation

struct Query: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Query engagement metrics.",
        discussion: """
            Filters: --where attr=value (repeatable; values of one attribute OR, attributes AND). Attributes: \
            acquisition_channel, user_segment, device_type, region, and cohort (registration month, YYYY-MM); \
            `engage query values --dimension ATTR` lists the values users hold, and a --where value no user holds \
            is warned about. --by attr gives one result per value, where supported. Dates are local dates of the \
            server's reporting time zone, within 1999-12-01 ... 2179-05-06. Days after the store's last day, and \
            periods that end after it, are unfinished: their numbers are null in JSON and CSV and blank in tables.
            """,
        subcommands: [
            Activity.self, ActiveDays.self, Tiers.self, Transitions.self, Retention.self, Lifecycle.self, Sessions.self,
            User.self, AtRisk.self, Actions.self, Values.self,
        ]
    )
}

/// --where filters.
struct FilterOptions: ParsableArguments {
    @Option(
        name: .customLong("where"),
        help: ArgumentHelp(
            "attr=value filter (repeatable); attributes: \(FilterArgument.attributesHelp).",
            valueName: "attr=value"
        ),
        transform: FilterArgument.argument
    )
    var filters: [FilterArgument] = []

    var dimensionFilters: [DimensionFilter] { DimensionFilter.grouping(self.filters.map { ($0.dimension, $0.value) }) }

    /// Warns on standard error about filter values no user holds (a typo gives zeros, not an error).
    func warnAboutUnheldValues(_ client: EngageConnection) async throws {
        try await self.warnAboutUnheldValues(heldValues: { try await client.values($0).map(\.value) })
    }

    /// The same, with the values users hold of a dimension from `heldValues` (listed in its order).
    func warnAboutUnheldValues(heldValues: (EngageModel.Dimension) async throws -> [String]) async throws {
        for filter in self.dimensionFilters {
            let held = try await heldValues(filter.dimension)
            // By bytes, as the server matches --where values.
            let names = Set(held.map(UTF8Key.init))
            for value in filter.values where !names.contains(UTF8Key(value)) {
                let known = held.prefix(20).joined(separator: ", ")
                StandardError.write(
                    "warning: no user holds \(filter.dimension.name)=\(value)"
                        + (held.isEmpty
                            ? " (no user holds any value of it)"
                            : " (values held: \(known)\(held.count > 20 ? ", ..." : ""))")
                )
            }
        }
    }
}

/// --where filters and --by.
struct SelectionOptions: ParsableArguments {
    @OptionGroup var filters: FilterOptions
    @Option(name: .long, help: "Break down by this attribute (or cohort): one result per value users hold.") var by:
        EngageModel.Dimension?

    var selection: Selection { Selection(filters: self.filters.dimensionFilters, breakdown: self.by) }
    var groupColumn: [String] { self.by == nil ? [] : ["group"] }
    var groupCells: [(String, ClickHouseQueryOptions.Cell)] { self.by == nil ? [] : [("group", .string)] }

    func group(_ name: String?) -> [Value] { self.by == nil ? [] : [.string(name ?? "")] }
}

/// --from and --to, both required.
struct RangeOptions: ParsableArguments {
    @Option(name: .long, help: "First day, YYYY-MM-DD.") var from: CivilDate
    @Option(name: .long, help: "Last day, YYYY-MM-DD.") var to: CivilDate

    func validate() throws {
        if self.from > self.to { throw ValidationError("--from \(self.from) is after --to \(self.to)") }
    }
}

/// --month, or --from and --to.
struct MonthOrRangeOptions: ParsableArguments {
    @Option(name: .long, help: "Calendar month, YYYY-MM (or give --from and --to).") var month: CivilMonth?
    @Option(name: .long, help: "First day, YYYY-MM-DD (with --to, instead of --month).") var from: CivilDate?
    @Option(name: .long, help: "Last day, YYYY-MM-DD (with --from, instead of --month).") var to: CivilDate?

    func validate() throws {
        switch (self.month, self.from, self.to) {
        case (.some, nil, nil): break
        case (nil, .some(let from), .some(let to)):
            if from > to { throw ValidationError("--from \(from) is after --to \(to)") }
        default: throw ValidationError("give either --month, or --from and --to")
        }
    }

    var days: (CivilDate, CivilDate) {
        if let month { return (month.firstDay, month.lastDay) }
        return (self.from!, self.to!)
    }
}

/// Runs a query with the options every query shares: the connection (errors in words), the output format,
/// and the warning about --where values no user holds.
struct QueryRun {
    let connection: ConnectionOptions
    let format: OutputFormat

    func callAsFunction<Result>(
        filters: FilterOptions? = nil,
        _ body: (EngageConnection) async throws -> Result
    ) async throws -> Result {
        try await self.connection.withClient(json: self.format == .json) { client in
            if let filters { try await filters.warnAboutUnheldValues(client) }
            return try await body(client)
        }
    }
}

extension Period: ExpressibleByArgument {}

extension Query {
    struct Activity: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Daily DAU, WAU, MAU, DAU/MAU and DAU/WAU over a date range."
        )

        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var output: FormatOption
        @OptionGroup var range: RangeOptions
        @OptionGroup var selection: SelectionOptions
        @OptionGroup var clickhouse: ClickHouseQueryOptions

        func run() async throws {
            if self.clickhouse.url != nil {
                let columns: [(String, ClickHouseQueryOptions.Cell)] = [
                    ("date", .string), ("dau", .count), ("wau", .count), ("mau", .count), ("dau_mau", .ratio),
                    ("dau_wau", .ratio),
                ]
                return try await self.clickhouse.run(
                    .activity(from: self.range.from, to: self.range.to, self.selection.selection),
                    name: "activity",
                    columns: self.selection.groupCells + columns,
                    format: self.output.format,
                    filters: self.selection.filters
                )
            }
            let query = ActivityQuery(
                from: self.range.from,
                to: self.range.to,
                filters: self.selection.selection.filters,
                breakdown: self.selection.by
            )
            let rows = try await QueryRun(connection: self.connection, format: self.output.format)(
                filters: self.selection.filters
            ) {
                try await $0.activity(query)
            }
            let report = QueryReports.activity(rows, grouped: self.selection.by != nil)
            try report.print(self.output.format)
        }
    }

    struct ActiveDays: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "active-days",
            abstract: "How many users had exactly k active days in a month or a range (k >= 1)."
        )

        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var output: FormatOption
        @OptionGroup var range: MonthOrRangeOptions
        @OptionGroup var selection: SelectionOptions
        @OptionGroup var clickhouse: ClickHouseQueryOptions

        func run() async throws {
            let (from, to) = self.range.days
            if self.clickhouse.url != nil {
                return try await self.clickhouse.run(
                    .activeDays(from: from, to: to, self.selection.selection),
                    name: "active_days",
                    columns: self.selection.groupCells + [("active_days", .int), ("users", .int)],
                    format: self.output.format,
                    filters: self.selection.filters
                )
            }
            let rows = try await QueryRun(connection: self.connection, format: self.output.format)(
                filters: self.selection.filters
            ) {
                try await $0.activeDays(from: from, to: to, self.selection.selection)
            }
            let report = QueryReports.activeDays(rows, grouped: self.selection.by != nil)
            try report.print(self.output.format)
        }
    }

    struct Tiers: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Engagement tiers over a calendar month or the 30 days ending on a day.",
            discussion:
                "casual: 1-5 active days, regular: 6-15, core: 16+, power: core with actions >= P per active day."
        )

        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var output: FormatOption
        @Option(name: .long, help: "Calendar month, YYYY-MM (or give --as-of).") var month: CivilMonth?
        @Option(name: .customLong("as-of"), help: "Rolling window ending on this day, YYYY-MM-DD (or give --month).")
        var asOf: CivilDate?
        @OptionGroup var selection: SelectionOptions
        @OptionGroup var clickhouse: ClickHouseQueryOptions

        func validate() throws {
            guard (self.month == nil) != (self.asOf == nil) else {
                throw ValidationError("give either --month or --as-of")
            }
        }

        func run() async throws {
            let window: TierWindow = self.month.map { .month($0) } ?? .asOf(self.asOf!)
            if self.clickhouse.url != nil {
                let columns: [(String, ClickHouseQueryOptions.Cell)] = [
                    ("tier", .string), ("users", .int), ("avg_daily_sessions", .ratio), ("avg_daily_actions", .ratio),
                ]
                return try await self.clickhouse.run(
                    .tiers(window, self.selection.selection),
                    name: "tiers",
                    columns: self.selection.groupCells + columns,
                    format: self.output.format,
                    filters: self.selection.filters
                )
            }
            let rows = try await QueryRun(connection: self.connection, format: self.output.format)(
                filters: self.selection.filters
            ) {
                try await $0.tiers(window, self.selection.selection)
            }
            let report = QueryReports.tiers(rows, grouped: self.selection.by != nil)
            try report.print(self.output.format)
        }
    }

    struct Transitions: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Monthly tier transitions from a month to the next.")

        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var output: FormatOption
        @Option(name: .long, help: "The first month, YYYY-MM.") var month: CivilMonth
        @OptionGroup var filters: FilterOptions
        @OptionGroup var clickhouse: ClickHouseQueryOptions

        func run() async throws {
            if self.clickhouse.url != nil {
                return try await self.clickhouse.run(
                    .transitions(self.month, filters: self.filters.dimensionFilters),
                    name: "transitions",
                    columns: [("from_tier", .string), ("to_tier", .string), ("users", .int)],
                    format: self.output.format,
                    filters: self.filters
                )
            }
            let rows = try await QueryRun(connection: self.connection, format: self.output.format)(
                filters: self.filters
            ) {
                try await $0.transitions(self.month, filters: self.filters.dimensionFilters)
            }
            let report = QueryReports.transitions(rows)
            try report.print(self.output.format)
        }
    }

    struct Retention: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Cohort retention: users registered in each period, and how many were active k periods later.",
            discussion: """
                Cohorts are the periods overlapping [--from, --to]; offsets run 0...--periods; empty cohorts are left out. \
                An offset whose period ends after the store's last day is unfinished: retained and rate are null (blank).
                """
        )

        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var output: FormatOption
        @Option(name: .long, help: "day, week (starting Monday) or month.") var period: Period
        @OptionGroup var range: RangeOptions
        @Option(name: .long, help: "Offsets after each cohort period (0...400).") var periods: Int
        @OptionGroup var selection: SelectionOptions
        @OptionGroup var clickhouse: ClickHouseQueryOptions

        func validate() throws {
            guard (0...400).contains(self.periods) else { throw ValidationError("--periods must be 0...400") }
        }

        func run() async throws {
            if self.clickhouse.url != nil {
                let columns: [(String, ClickHouseQueryOptions.Cell)] = [
                    ("cohort", .string), ("cohort_size", .int), ("period_offset", .int), ("retained", .count),
                    ("rate", .ratio),
                ]
                return try await self.clickhouse.run(
                    .retention(
                        period: self.period,
                        from: self.range.from,
                        to: self.range.to,
                        periods: self.periods,
                        self.selection.selection
                    ),
                    name: "retention",
                    columns: self.selection.groupCells + columns,
                    format: self.output.format,
                    filters: self.selection.filters
                )
            }
            let rows = try await QueryRun(connection: self.connection, format: self.output.format)(
                filters: self.selection.filters
            ) {
                try await $0.retention(
                    period: self.period,
                    from: self.range.from,
                    to: self.range.to,
                    periods: self.periods,
                    self.selection.selection
                )
            }
            let report = QueryReports.retention(rows, grouped: self.selection.by != nil)
            try report.print(self.output.format)
        }
    }

    struct Lifecycle: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "New, returning, resurrecting and dormant users per period.",
            discussion: """
                Among users active in a period: new (registered in it), returning (active in the previous one too), \
                resurrecting (not); dormant: active in the previous period only. A period that ends after the store's \
                last day is unfinished: its counts are null (blank).
                """
        )

        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var output: FormatOption
        @Option(name: .long, help: "day, week (starting Monday) or month.") var period: Period
        @OptionGroup var range: RangeOptions
        @OptionGroup var filters: FilterOptions
        @OptionGroup var clickhouse: ClickHouseQueryOptions

        func run() async throws {
            if self.clickhouse.url != nil {
                let columns: [(String, ClickHouseQueryOptions.Cell)] = [
                    ("period", .string), ("new", .count), ("returning", .count), ("resurrecting", .count),
                    ("dormant", .count),
                ]
                return try await self.clickhouse.run(
                    .lifecycle(
                        period: self.period,
                        from: self.range.from,
                        to: self.range.to,
                        filters: self.filters.dimensionFilters
                    ),
                    name: "lifecycle",
                    columns: columns,
                    format: self.output.format,
                    filters: self.filters
                )
            }
            let rows = try await QueryRun(connection: self.connection, format: self.output.format)(
                filters: self.filters
            ) {
                try await $0.lifecycle(
                    period: self.period,
                    from: self.range.from,
                    to: self.range.to,
                    filters: self.filters.dimensionFilters
                )
            }
            let report = QueryReports.lifecycle(rows)
            try report.print(self.output.format)
        }
    }

    struct Sessions: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sessions starting in a range: count, users, durations, bounce rate."
        )

        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var output: FormatOption
        @OptionGroup var range: RangeOptions
        @OptionGroup var filters: FilterOptions
        @OptionGroup var clickhouse: ClickHouseQueryOptions

        func run() async throws {
            if self.clickhouse.url != nil {
                let columns: [(String, ClickHouseQueryOptions.Cell)] = [
                    ("sessions", .int), ("users", .int), ("avg_duration_seconds", .ratio),
                    ("p50_duration_seconds", .int),
                    ("p90_duration_seconds", .int), ("avg_actions", .ratio), ("bounce_rate", .ratio),
                ]
                return try await self.clickhouse.run(
                    .sessions(from: self.range.from, to: self.range.to, filters: self.filters.dimensionFilters),
                    name: "sessions",
                    columns: columns,
                    format: self.output.format,
                    filters: self.filters
                )
            }
            let summary = try await QueryRun(connection: self.connection, format: self.output.format)(
                filters: self.filters
            ) {
                try await $0.sessions(from: self.range.from, to: self.range.to, filters: self.filters.dimensionFilters)
            }
            let report = QueryReports.sessions(summary)
            try report.print(self.output.format)
        }
    }

    struct User: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "One user: attributes, current tier, daily records and sessions.",
            discussion: """
                Three sections: profile, days (daily records) and sessions (times in the server's reporting time zone, \
                with their UTC offset). JSON holds all three; --section prints one, which CSV needs (one table per file).
                """
        )

        enum Section: String, ExpressibleByArgument, CaseIterable { case profile, days, sessions }

        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var output: FormatOption
        @Option(name: .long, help: "The user_id.") var id: String
        @Option(name: .long, help: "Print only this section: profile, days or sessions.") var section: Section?

        func validate() throws {
            if self.output.format == .csv && self.section == nil {
                throw ValidationError("CSV holds one table: give --section profile, days or sessions")
            }
        }

        func run() async throws {
            let (found, zone) = try await QueryRun(connection: self.connection, format: self.output.format)() {
                (try await $0.user(self.id), $0.timeZone)
            }
            guard let detail = found else { throw CLIError("no user with user_id '\(self.id)'") }
            let user = QueryReports.user(detail, timeZone: zone)
            let sections: [(Section, Report)] = [
                (.profile, user.profile), (.days, user.days), (.sessions, user.sessions),
            ]
            if let section {
                try sections.first { $0.0 == section }!.1.print(self.output.format)
                return
            }
            switch self.output.format {
            case .json:
                try StandardOutput.write(user.json + "\n")
            default:
                for (index, (_, report)) in sections.enumerated() {
                    if index > 0 { try StandardOutput.write("\n") }
                    try report.print(self.output.format)
                }
            }
        }
    }

    struct AtRisk: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "at-risk",
            abstract: "Churn early warning: users regular or better a week ago with no active day in the last 7 days.",
            discussion: "Most active first (active days, then actions, in the 30 days ending 7 days before --as-of)."
        )

        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var output: FormatOption
        @Option(name: .customLong("as-of"), help: "The day to look back from, YYYY-MM-DD.") var asOf: CivilDate
        @Option(name: .long, help: "Most users listed.") var limit: Int = 100
        @OptionGroup var filters: FilterOptions

        func validate() throws {
            guard self.limit >= 1 else { throw ValidationError("--limit must be at least 1") }
        }

        func run() async throws {
            let rows = try await QueryRun(connection: self.connection, format: self.output.format)(
                filters: self.filters
            ) {
                try await $0.atRisk(asOf: self.asOf, limit: self.limit, filters: self.filters.dimensionFilters)
            }
            let report = QueryReports.atRisk(rows)
            try report.print(self.output.format)
        }
    }

    struct Actions: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Events and distinct users per action category and per action type (creation versus consumption).",
            discussion: "Category rows come first (action_type empty), then one row per action type."
        )

        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var output: FormatOption
        @OptionGroup var range: RangeOptions
        @OptionGroup var filters: FilterOptions

        func run() async throws {
            let rows = try await QueryRun(connection: self.connection, format: self.output.format)(
                filters: self.filters
            ) {
                try await $0.actionUsage(
                    from: self.range.from,
                    to: self.range.to,
                    filters: self.filters.dimensionFilters
                )
            }
            let report = QueryReports.actions(rows)
            try report.print(self.output.format)
        }
    }

    struct Values: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "The values of an attribute (or registration months, for cohort) that users hold, with their users."
        )

        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var output: FormatOption
        @Option(name: .long, help: "acquisition_channel, user_segment, device_type, region or cohort.") var dimension:
            EngageModel.Dimension

        func run() async throws {
            let rows = try await QueryRun(connection: self.connection, format: self.output.format)() {
                try await $0.values(self.dimension)
            }
            let report = QueryReports.values(rows)
            try report.print(self.output.format)
        }
    }
}
