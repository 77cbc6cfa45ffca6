import ArgumentParser
import EngageClient
import EngageCommandLine
import EngageModel
import EngageOutput
import Foundation

@main
struct Engage: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "engage",
        abstract: "Import into, query and inspect an Engage server.",
        discussion: """
            Every subcommand takes --server HOST:PORT (or ENGAGE_SERVER), --token or --token-file (or ENGAGE_TOKEN), \
            --tls/--tls-ca and --verbose. Queries, stats and admin print --format table (default), json or csv; \
            exports print jsonl (default) or csv. Exit status: 0 done, 1 failed (the message says why), 64 usage \
            error, 141 standard output closed by its reader (e.g. `| head`). Shell completions: \
            `engage --generate-completion-script bash|zsh|fish`.
            """,
        version: EngageVersion.current,
        subcommands: [
            Import.self, Query.self, Export.self, Stats.self, ReportFile.self, Admin.self, ClickHouseCommand.self,
        ]
    )
}

/// Where the server is, and how to authenticate.
struct ConnectionOptions: ParsableArguments {
    @OptionGroup var client: ClientConnectionOptions

    @Flag(name: .long, help: "Show protocol error codes with error messages.")
    var verbose = false

    /// Connects, runs `body`, and closes the connection whatever happens. Client errors become one readable
    /// line (with the protocol code under --verbose, and as a JSON object on standard output with --format json).
    func withClient<Result>(
        json: Bool = false,
        _ body: (EngageConnection) async throws -> Result
    ) async throws -> Result {
        let client = try await self.connect()
        do {
            let result = try await body(client)
            try? await client.close()
            return result
        } catch let error as EngageClientError {
            try? await client.close()
            throw self.present(error, json: json)
        } catch {
            try? await client.close()
            throw error
        }
    }

    func connect() async throws -> EngageConnection {
        do {
            return try await self.client.connect(clientName: "engage-cli")
        } catch let error as EngageClientError {
            throw self.present(error, json: false)
        }
    }

    /// The error as people read it; the protocol's code stays available.
    func present(_ error: EngageClientError, json: Bool) -> CLIError {
        var message = error.message
        if let server = error.serverError {
            if json {
                let object =
                    "{\"error\": {\"code\": \(server.code), \"name\": \(Value.quote(server.name)), \"message\": \(Value.quote(server.message))}}\n"
                try? StandardOutput.write(object)
            }
            if self.verbose { message += " [protocol error \(server.code) \(server.name)]" }
        } else if self.verbose {
            message += " [\(error.code.name)]"
        }
        return CLIError(message)
    }
}

struct FormatOption: ParsableArguments {
    @Option(name: .long, help: "Output format: table, json or csv.")
    var format: OutputFormat = .table
}

/// A failure worth one line on standard error and exit status 1.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

extension CivilDate: ExpressibleByArgument {
    public init?(argument: String) { self.init(argument) }
    public static var defaultCompletionKind: CompletionKind { .default }
}

extension CivilMonth: ExpressibleByArgument {
    public init?(argument: String) { self.init(argument) }
}

extension FilterArgument {
    /// `--where attr=value`, with the model's error as a usage error.
    static func argument(_ text: String) throws -> FilterArgument {
        do {
            return try FilterArgument.parse(text)
        } catch {
            throw ValidationError(error.description)
        }
    }
}

extension EngageModel.Dimension: ExpressibleByArgument {
    public init?(argument: String) { self.init(name: argument) }
    public static var allValueStrings: [String] { EngageModel.Dimension.allNames }
}

struct Stats: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "What the server stores: events, users, actions, days, bytes on disk."
    )

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var output: FormatOption

    func run() async throws {
        let stats = try await self.connection.withClient(json: self.output.format == .json) { try await $0.stats() }
        let report = QueryReports.stats(stats)
        try report.print(self.output.format)
    }
}
