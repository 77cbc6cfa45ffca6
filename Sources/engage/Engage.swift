import ArgumentParser
import EngageClient
import EngageCommandLine
import EngageModel
import Foundation

@main
struct Engage: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "engage",
        abstract: "Import into, query and inspect an Engage server.",
        discussion: "Every subcommand takes --server HOST:PORT (or ENGAGE_SERVER) and --format json|table|csv.",
        subcommands: [Import.self, Query.self, Export.self, Stats.self, Admin.self]
    )
}

/// Where the server is, and how to authenticate.
struct ConnectionOptions: ParsableArguments {
    @OptionGroup var client: ClientConnectionOptions

    /// Connects, runs `body`, and closes the connection whatever happens.
    func withClient<Result>(_ body: (EngageClient) async throws -> Result) async throws -> Result {
        let client = try await self.connect()
        do {
            let result = try await body(client)
            try? await client.close()
            return result
        } catch let error as EngageClientError {
            try? await client.close()
            throw CLIError("\(error)")
        } catch {
            try? await client.close()
            throw error
        }
    }

    func connect() async throws -> EngageClient {
        try await self.client.connect(clientName: "engage-cli")
    }
}

struct FormatOption: ParsableArguments {
    @Option(name: .long, help: "Output format: json, table or csv.")
    var format: OutputFormat = .table
}

/// A failure worth one line on standard error and exit status 1.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

extension CivilDate: ExpressibleByArgument {
    public init?(argument: String) { self.init(argument) }
}

extension CivilMonth: ExpressibleByArgument {
    public init?(argument: String) { self.init(argument) }
}

/// `attr=value`.
struct FilterArgument: ExpressibleByArgument {
    let dimension: EngageModel.Dimension
    let value: String

    init?(argument: String) {
        guard let equals = argument.firstIndex(of: "="),
            let dimension = EngageModel.Dimension(name: String(argument[..<equals])),
            argument.index(after: equals) < argument.endIndex
        else { return nil }
        self.dimension = dimension
        self.value = String(argument[argument.index(after: equals)...])
    }

    static var defaultCompletionKind: CompletionKind { .default }
}

extension EngageModel.Dimension: ExpressibleByArgument {
    public init?(argument: String) { self.init(name: argument) }
}

struct Stats: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "What the server stores: events, users, actions, days, bytes on disk.")

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: FormatOption

    func run() async throws {
        let stats = try await self.connection.withClient { try await $0.stats() }
        var report = Report(
            name: "stats",
            columns: ["events", "duplicates", "users", "actions", "days", "bytes_on_disk", "time_zone", "first_day", "last_day"]
        )
        report.rows.append([
            .int(stats.events), .int(stats.duplicates), .int(stats.users), .int(stats.actions), .int(stats.days),
            .int(stats.bytesOnDisk), .string(stats.timeZone),
            stats.firstDay.map { .string($0.description) } ?? .null, stats.lastDay.map { .string($0.description) } ?? .null,
        ])
        report.print(self.output.format)
    }
}
