import ArgumentParser
import EngageClient
import EngageCommandLine
import EngageModel
import Foundation

@main
struct EngageLoad: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "engage-load",
        abstract: "Load generator for engaged: a simulated population streaming events, or a query mix.",
        discussion: """
            The population is deterministic for --seed: the same seed gives the same users, events and event ids, so \
            a second run with the same seed is all duplicates. Reports are one JSON object (--format json) with \
            latency percentiles from an HdrHistogram. `generate` writes the same population as JSON-lines files \
            for `engage import`.
            """,
        version: EngageVersion.current,
        subcommands: [Ingest.self, QueryLoad.self, RedisBaseline.self, Generate.self]
    )
}

struct ServerOptions: ParsableArguments {
    @OptionGroup var client: ClientConnectionOptions

    @Option(name: .long, help: "Connections to open (the load is spread over them).")
    var connections: Int = 4

    @Option(name: .long, help: "Report format: table or json.")
    var format: ReportFormat = .table

    /// `connections` connections to each node of `--server A,B,...` (users partitioned over the nodes).
    func connectNodes(_ name: String) async throws -> [[EngageConnection]] {
        var nodes: [[EngageConnection]] = []
        for server in self.client.servers {
            var options = self.client
            options.serverOption = server
            var clients: [EngageConnection] = []
            do {
                for index in 0..<Swift.max(1, self.connections) {
                    clients.append(try await options.connect(clientName: "\(name)-\(nodes.count)-\(index)"))
                }
            } catch {
                for client in clients + nodes.flatMap({ $0 }) { try? await client.close() }
                throw error
            }
            nodes.append(clients)
        }
        return nodes
    }

    func connect(_ name: String) async throws -> [EngageConnection] {
        var clients: [EngageConnection] = []
        for index in 0..<Swift.max(1, self.connections) {
            do {
                clients.append(
                    try await self.client.connect(clientName: "\(name)-\(index)")
                )
            } catch {
                for client in clients { try? await client.close() }
                throw error
            }
        }
        return clients
    }
}

enum ReportFormat: String, ExpressibleByArgument, CaseIterable {
    case json, table
}

extension LoadReport {
    func print(_ format: ReportFormat) {
        Swift.print(format == .json ? self.json() : self.table())
    }

    /// Ends every command's report alike: the run's errors (and the first one), printed; a run that had
    /// errors then exits 2.
    mutating func finish(_ totals: LoadCounters, _ format: ReportFormat) throws {
        self.add("errors", totals.errors)
        if let error = totals.firstError { self.add("error", error) }
        self.print(format)
        if totals.errors > 0 { throw ExitCode(2) }
    }
}

/// The clock both loops measure with.
enum Clock {
    static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }
}
