import ArgumentParser
import EngageClient
import EngageDashboard
import EngageModel
import EngageOutput
import Foundation

/// `engage report`: the dashboard's charts as one self-contained HTML file (styles, scripts and data inlined),
/// for people who cannot reach the server. The queries are exactly those the live page makes for the same
/// view (Dashboard/README.md, "The report file"), and each embedded body is what `engage query NAME --format
/// json` prints.
struct ReportFile: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write the dashboard's charts for a date range as one self-contained HTML file.",
        discussion: """
            The file needs no server and no network: open it in a browser, attach it to a mail, commit it to a wiki. \
            It holds the same panels as the dashboard at engaged --http-port (active users, active days, tiers and \
            transitions for --month, cohort retention, weekly lifecycle, sessions) and their numbers. A query the \
            server refuses shows as an error in its panel; the others are still drawn.
            """
    )

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var range: RangeOptions
    @Option(
        name: .long,
        help:
            "Month of the active-days, tiers and transitions panels, YYYY-MM. (default: the last whole month in the range)"
    )
    var month: CivilMonth?
    @OptionGroup var selection: SelectionOptions
    /// The cohort periods the dashboard offers.
    enum CohortPeriod: String, ExpressibleByArgument, CaseIterable {
        case week, month
        var period: Period { self == .week ? .week : .month }
    }

    @Option(name: .long, help: "Cohort period of the retention panel: week (8 offsets) or month (3 offsets).")
    var retention: CohortPeriod = .week
    @Option(name: .long, help: "Title of the page.") var title: String = "Engage report"
    @Option(name: .long, help: "The HTML file to write ('-' for standard output).") var output: String

    /// The last month lying wholly in [from, to], else the month of `to` (as the page chooses).
    static func defaultMonth(from: CivilDate, to: CivilDate) -> CivilMonth {
        var month = CivilMonth(index: to.monthIndex)
        let previous = CivilMonth(index: month.index - 1)
        if month.lastDay > to && previous.firstDay >= from { month = previous }
        return month
    }

    func run() async throws {
        let (from, to) = (self.range.from, self.range.to)
        let month = self.month ?? Self.defaultMonth(from: from, to: to)
        let previousMonth = CivilMonth(index: month.index - 1)
        // `where` in attribute order, as the page sends it.
        let orderedFilters = EngageModel.Dimension.allNames.flatMap { name in
            self.selection.filters.filters.filter { $0.dimension.name == name }
        }
        let filters = DimensionFilter.grouping(orderedFilters.map { ($0.dimension, $0.value) })
        let selection = Selection(filters: filters, breakdown: self.selection.by)
        let grouped = self.selection.by != nil
        let periods = self.retention == .month ? 3 : 8

        let (statsJSON, queries) = try await self.connection.withClient { client in
            let stats = QueryReports.stats(try await client.stats()).render(.json)
            var queries: [(String, String)] = []
            func add(_ key: String, _ body: () async throws -> Report) async throws {
                do {
                    queries.append((key, try await body().render(.json)))
                } catch let error as EngageClientError {
                    guard let server = error.serverError else { throw error }
                    // The server refused this query: its panel shows why, the others render.
                    queries.append(
                        (
                            key,
                            "{\"type\": \(Value.quote("urn:engage:error:" + server.name)), \"title\": \"Query failed\", "
                                + "\"status\": 400, \"detail\": \(Value.quote(server.message)), "
                                + "\"code\": \(Value.quote(server.name))}"
                        )
                    )
                }
            }
            try await add("activity") {
                QueryReports.activity(
                    try await client.activity(
                        ActivityQuery(from: from, to: to, filters: filters, breakdown: self.selection.by)
                    ),
                    grouped: grouped
                )
            }
            try await add("active-days") {
                QueryReports.activeDays(
                    try await client.activeDays(from: month.firstDay, to: month.lastDay, selection),
                    grouped: grouped
                )
            }
            try await add("tiers") {
                QueryReports.tiers(try await client.tiers(.month(month), selection), grouped: grouped)
            }
            try await add("transitions") {
                QueryReports.transitions(try await client.transitions(previousMonth, filters: filters))
            }
            try await add("retention") {
                QueryReports.retention(
                    try await client.retention(
                        period: self.retention.period,
                        from: from,
                        to: to,
                        periods: periods,
                        selection
                    ),
                    grouped: grouped
                )
            }
            try await add("lifecycle") {
                QueryReports.lifecycle(try await client.lifecycle(period: .week, from: from, to: to, filters: filters))
            }
            try await add("sessions") {
                QueryReports.sessions(try await client.sessions(from: from, to: to, filters: filters))
            }
            return (stats, queries)
        }

        let whereList = orderedFilters.map { Value.quote("\($0.dimension.name)=\($0.value)") }
        let params =
            "{\"from\": \(Value.quote(from.description)), \"to\": \(Value.quote(to.description)), "
            + "\"month\": \(Value.quote(month.description)), \"where\": [\(whereList.joined(separator: ", "))], "
            + "\"by\": \(Value.quote(self.selection.by?.name ?? "")), \"retention\": \(Value.quote(self.retention.rawValue))}"
        let data =
            "{\"format\": \(Value.quote(ReportDocument.format)), "
            + "\"generated_at\": \(Value.quote(Timestamp.formatISO8601(Int64(Date().timeIntervalSince1970) * 1000))), "
            + "\"params\": \(params),\n\"stats\": \(statsJSON),\n\"queries\": {"
            + queries.map { "\n\(Value.quote($0.0)): \($0.1)" }.joined(separator: ",") + "}}"
        let page = try ReportDocument.render(title: self.title, dataJSON: data)
        if self.output == "-" {
            try StandardOutput.write(page)
        } else {
            do {
                try page.write(toFile: self.output, atomically: true, encoding: .utf8)
            } catch {
                throw CLIError("cannot write \(self.output): \(error.localizedDescription)")
            }
            StandardError.write("wrote \(self.output) (\(Value.grouped(page.utf8.count)) bytes)")
        }
    }
}
