import ArgumentParser
import EngageClient
import EngageModel

struct Query: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Query engagement metrics.",
        discussion: """
            Filters: --where attr=value (repeatable; values of one attribute OR, attributes AND). Attributes: \
            acquisition_channel, user_segment, device_type, region, and cohort (registration month, YYYY-MM). \
            --by attr gives one result per value, where supported.
            """,
        subcommands: [
            Activity.self, ActiveDays.self, Tiers.self, Transitions.self, Retention.self, Lifecycle.self, Sessions.self,
            User.self, AtRisk.self, Actions.self,
        ]
    )
}

/// --where filters.
struct FilterOptions: ParsableArguments {
    @Option(name: .customLong("where"), help: "attr=value filter (repeatable).") var filters: [FilterArgument] = []

    var dimensionFilters: [DimensionFilter] { DimensionFilter.grouping(self.filters.map { ($0.dimension, $0.value) }) }
}

/// --where filters and --by.
struct SelectionOptions: ParsableArguments {
    @OptionGroup var filters: FilterOptions
    @Option(name: .long, help: "Break down by this attribute (or cohort).") var by: EngageModel.Dimension?

    var selection: Selection { Selection(filters: self.filters.dimensionFilters, breakdown: self.by) }
    var groupColumn: [String] { self.by == nil ? [] : ["group"] }

    func group(_ name: String?) -> [Value] { self.by == nil ? [] : [.string(name ?? "")] }
}

/// --from/--to, or --month.
struct RangeOptions: ParsableArguments {
    @Option(name: .long, help: "First day, YYYY-MM-DD.") var from: CivilDate?
    @Option(name: .long, help: "Last day, YYYY-MM-DD.") var to: CivilDate?

    func validate() throws {
        if let from, let to, from > to { throw ValidationError("--from must not be after --to") }
    }

    func required() throws -> (CivilDate, CivilDate) {
        guard let from, let to else { throw ValidationError("give --from and --to") }
        return (from, to)
    }
}

extension Period: ExpressibleByArgument {}

extension Query {
    struct Activity: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Daily DAU, WAU, MAU, DAU/MAU and DAU/WAU over a date range.")

        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var output: FormatOption
        @OptionGroup var range: RangeOptions
        @OptionGroup var selection: SelectionOptions

        func run() async throws {
            let (from, to) = try self.range.required()
            let rows = try await self.connection.withClient {
                try await $0.activity(ActivityQuery(from: from, to: to, filters: self.selection.selection.filters, breakdown: self.selection.by))
            }
            var report = Report(name: "activity", columns: self.selection.groupColumn + ["date", "dau", "wau", "mau", "dau_mau", "dau_wau"])
            for row in rows {
                report.rows.append(
                    self.selection.group(row.group)
                        + [.string(row.date.description), .int(row.dau), .int(row.wau), .int(row.mau), .double(row.dauOverMau), .double(row.dauOverWau)]
                )
            }
            report.print(self.output.format)
        }
    }

    struct ActiveDays: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "active-days",
            abstract: "How many users had exactly k active days in a month or a range (k >= 1)."
        )

        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var output: FormatOption
        @Option(name: .long, help: "Calendar month, YYYY-MM.") var month: CivilMonth?
        @OptionGroup var range: RangeOptions
        @OptionGroup var selection: SelectionOptions

        func validate() throws {
            guard (self.month != nil) != (self.range.from != nil || self.range.to != nil) else {
                throw ValidationError("give either --month or --from and --to")
            }
        }

        func run() async throws {
            let (from, to) = try self.month.map { ($0.firstDay, $0.lastDay) } ?? self.range.required()
            let rows = try await self.connection.withClient { try await $0.activeDays(from: from, to: to, self.selection.selection) }
            var report = Report(name: "active_days", columns: self.selection.groupColumn + ["active_days", "users"])
            for row in rows { report.rows.append(self.selection.group(row.group) + [.int(row.activeDays), .int(row.users)]) }
            report.print(self.output.format)
        }
    }

    struct Tiers: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Engagement tiers over a calendar month or the 30 days ending on a day.",
            discussion: "casual: 1-5 active days, regular: 6-15, core: 16+, power: core with actions >= P per active day."
        )

        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var output: FormatOption
        @Option(name: .long, help: "Calendar month, YYYY-MM.") var month: CivilMonth?
        @Option(name: .customLong("as-of"), help: "Rolling window ending on this day, YYYY-MM-DD.") var asOf: CivilDate?
        @OptionGroup var selection: SelectionOptions

        func validate() throws {
            guard (self.month == nil) != (self.asOf == nil) else { throw ValidationError("give either --month or --as-of") }
        }

        func run() async throws {
            let window: TierWindow = self.month.map { .month($0) } ?? .asOf(self.asOf!)
            let rows = try await self.connection.withClient { try await $0.tiers(window, self.selection.selection) }
            var report = Report(name: "tiers", columns: self.selection.groupColumn + ["tier", "users", "avg_daily_sessions", "avg_daily_actions"])
            for row in rows {
                report.rows.append(
                    self.selection.group(row.group) + [.string(row.tier), .int(row.users), .double(row.averageDailySessions), .double(row.averageDailyActions)]
                )
            }
            report.print(self.output.format)
        }
    }

    struct Transitions: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Monthly tier transitions from a month to the next.")

        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var output: FormatOption
        @Option(name: .long, help: "The first month, YYYY-MM.") var month: CivilMonth
        @OptionGroup var filters: FilterOptions

        func run() async throws {
            let rows = try await self.connection.withClient { try await $0.transitions(self.month, filters: self.filters.dimensionFilters) }
            var report = Report(name: "transitions", columns: ["from_tier", "to_tier", "users"])
            for row in rows { report.rows.append([.string(row.fromTier), .string(row.toTier), .int(row.users)]) }
            report.print(self.output.format)
        }
    }

    struct Retention: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Cohort retention: users registered in each period, and how many were active k periods later.",
            discussion: "Cohorts are the periods overlapping [--from, --to]; offsets run 0...--periods; empty cohorts are left out."
        )

        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var output: FormatOption
        @Option(name: .long, help: "day, week (starting Monday) or month.") var period: Period
        @OptionGroup var range: RangeOptions
        @Option(name: .long, help: "Offsets after each cohort period.") var periods: Int
        @OptionGroup var selection: SelectionOptions

        func run() async throws {
            let (from, to) = try self.range.required()
            let rows = try await self.connection.withClient {
                try await $0.retention(period: self.period, from: from, to: to, periods: self.periods, self.selection.selection)
            }
            var report = Report(name: "retention", columns: self.selection.groupColumn + ["cohort", "cohort_size", "period_offset", "retained", "rate"])
            for row in rows {
                report.rows.append(
                    self.selection.group(row.group)
                        + [.string(row.cohort.description), .int(row.cohortSize), .int(row.periodOffset), .int(row.retained), .double(row.rate)]
                )
            }
            report.print(self.output.format)
        }
    }

    struct Lifecycle: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "New, returning, resurrecting and dormant users per period.",
            discussion: "Among users active in a period: new (registered in it), returning (active in the previous one too), resurrecting (not); dormant: active in the previous period only."
        )

        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var output: FormatOption
        @Option(name: .long, help: "day, week (starting Monday) or month.") var period: Period
        @OptionGroup var range: RangeOptions
        @OptionGroup var filters: FilterOptions

        func run() async throws {
            let (from, to) = try self.range.required()
            let rows = try await self.connection.withClient {
                try await $0.lifecycle(period: self.period, from: from, to: to, filters: self.filters.dimensionFilters)
            }
            var report = Report(name: "lifecycle", columns: ["period", "new", "returning", "resurrecting", "dormant"])
            for row in rows {
                report.rows.append([.string(row.period.description), .int(row.new), .int(row.returning), .int(row.resurrecting), .int(row.dormant)])
            }
            report.print(self.output.format)
        }
    }

    struct Sessions: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Sessions starting in a range: count, users, durations, bounce rate.")

        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var output: FormatOption
        @OptionGroup var range: RangeOptions
        @OptionGroup var filters: FilterOptions

        func run() async throws {
            let (from, to) = try self.range.required()
            let summary = try await self.connection.withClient { try await $0.sessions(from: from, to: to, filters: self.filters.dimensionFilters) }
            var report = Report(
                name: "sessions",
                columns: ["sessions", "users", "avg_duration_seconds", "p50_duration_seconds", "p90_duration_seconds", "avg_actions", "bounce_rate"]
            )
            report.rows.append([
                .int(summary.sessions), .int(summary.users), .double(summary.averageDurationSeconds), .int(summary.p50DurationSeconds),
                .int(summary.p90DurationSeconds), .double(summary.averageActions), .double(summary.bounceRate),
            ])
            report.print(self.output.format)
        }
    }

    struct User: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One user: attributes, current tier, daily records and sessions.")

        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var output: FormatOption
        @Option(name: .long, help: "The user_id.") var id: String

        func run() async throws {
            guard let detail = try await self.connection.withClient({ try await $0.user(self.id) }) else {
                throw CLIError("no user with user_id '\(self.id)'")
            }
            var profile = Report(
                name: "user",
                columns: ["user_id", "registration_date"] + Attribute.allCases.map(\.rawValue) + ["current_tier", "as_of"]
            )
            profile.rows.append(
                [.string(detail.profile.userID), detail.profile.registrationDate.map { .string($0.description) } ?? .null]
                    + Attribute.allCases.map { .string(detail.profile.attributes[$0] ?? Attribute.unknownValue) }
                    + [.string(detail.currentTier), .string(detail.asOf.description)]
            )
            var days = Report(
                name: "daily_activity",
                columns: ["date", "sessions_count", "total_session_duration", "total_actions", "unique_action_types", "is_active_day", "engagement_tier"]
            )
            for day in detail.days {
                days.rows.append([
                    .string(day.date.description), .int(day.sessionsCount), .int(day.totalSessionDuration), .int(day.totalActions),
                    .int(day.uniqueActionTypes), .bool(day.isActiveDay), .string(day.engagementTier),
                ])
            }
            var sessions = Report(
                name: "sessions",
                columns: ["start", "end", "start_ms", "end_ms", "session_duration_seconds", "actions_count", "screens_visited", "session_type"]
            )
            for session in detail.sessions {
                sessions.rows.append([
                    .string(Timestamp.formatISO8601(session.startMs)), .string(Timestamp.formatISO8601(session.endMs)),
                    .int(Int(session.startMs)), .int(Int(session.endMs)), .int(session.durationSeconds), .int(session.actionsCount),
                    .int(session.screensVisited), .string(session.sessionType),
                ])
            }
            switch self.output.format {
            case .json:
                print(
                    "{\"query\": \"user\", \"user\": \(profile.object(profile.rows[0])),\n \"daily_activity\": ["
                        + days.rows.map { "\n  " + days.object($0) }.joined(separator: ",")
                        + "],\n \"sessions\": [" + sessions.rows.map { "\n  " + sessions.object($0) }.joined(separator: ",") + "]}"
                )
            default:
                profile.print(self.output.format)
                print()
                days.print(self.output.format)
                print()
                sessions.print(self.output.format)
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

        func run() async throws {
            let rows = try await self.connection.withClient {
                try await $0.atRisk(asOf: self.asOf, limit: self.limit, filters: self.filters.dimensionFilters)
            }
            var report = Report(name: "at_risk", columns: ["user_id", "tier_7_days_ago", "active_days", "actions", "last_active_day"])
            for row in rows {
                report.rows.append([.string(row.userID), .string(row.tierBefore), .int(row.activeDays), .int(row.actions), .string(row.lastActiveDay.description)])
            }
            report.print(self.output.format)
        }
    }

    struct Actions: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Events and distinct users per action category and per action type (creation versus consumption).",
            discussion: "Category rows come first (action_type empty), then one row per action type."
        )

        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var output: FormatOption
        @OptionGroup var range: RangeOptions
        @OptionGroup var filters: FilterOptions

        func run() async throws {
            let (from, to) = try self.range.required()
            let rows = try await self.connection.withClient { try await $0.actionUsage(from: from, to: to, filters: self.filters.dimensionFilters) }
            var report = Report(name: "actions", columns: ["action_category", "action_type", "is_core_action", "events", "users"])
            for row in rows {
                report.rows.append([
                    .string(row.category), row.actionType.map(Value.string) ?? .null, row.isCoreAction.map(Value.bool) ?? .null,
                    .int(row.events), .int(row.users),
                ])
            }
            report.print(self.output.format)
        }
    }
}
