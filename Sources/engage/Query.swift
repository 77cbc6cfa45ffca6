import ArgumentParser
import EngageClient
import EngageModel

struct Query: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Query engagement metrics.",
        subcommands: [Activity.self]
    )

    struct Activity: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Daily DAU, WAU, MAU, DAU/MAU and DAU/WAU over a date range.",
            discussion: """
                --where attr=value restricts to users holding that value (repeat it: values of one attribute OR, \
                attributes AND). Attributes: acquisition_channel, user_segment, device_type, region, and cohort \
                (registration month, YYYY-MM). --by attr gives one series per value.
                """
        )

        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var output: FormatOption

        @Option(name: .long, help: "First day, YYYY-MM-DD.") var from: CivilDate
        @Option(name: .long, help: "Last day, YYYY-MM-DD.") var to: CivilDate
        @Option(name: .customLong("where"), help: "attr=value filter (repeatable).") var filters: [FilterArgument] = []
        @Option(name: .long, help: "Break down by this attribute.") var by: EngageModel.Dimension?

        func validate() throws {
            guard self.from <= self.to else { throw ValidationError("--from must not be after --to") }
        }

        func run() async throws {
            let client = try await self.connection.connect()
            defer { Task { try? await client.close() } }
            let rows = try await client.activity(
                ActivityQuery(
                    from: self.from,
                    to: self.to,
                    filters: DimensionFilter.grouping(self.filters.map { ($0.dimension, $0.value) }),
                    breakdown: self.by
                )
            )
            let grouped = self.by != nil
            var report = Report(
                name: "activity",
                columns: (grouped ? ["group"] : []) + ["date", "dau", "wau", "mau", "dau_mau", "dau_wau"]
            )
            for row in rows {
                report.rows.append(
                    (grouped ? [.string(row.group ?? "")] : [])
                        + [.string(row.date.description), .int(row.dau), .int(row.wau), .int(row.mau), .double(row.dauOverMau), .double(row.dauOverWau)]
                )
            }
            report.print(self.output.format)
        }
    }
}
