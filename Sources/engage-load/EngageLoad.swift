import ArgumentParser
import EngageClient
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
            latency percentiles from an HdrHistogram.
            """,
        subcommands: [Ingest.self, QueryLoad.self, RedisBaseline.self]
    )
}

struct ServerOptions: ParsableArguments {
    @Option(name: .long, help: "Server HOST:PORT (default: $ENGAGE_SERVER, else 127.0.0.1:7733).")
    var server: String = ProcessInfo.processInfo.environment["ENGAGE_SERVER"] ?? "127.0.0.1:7733"

    @Option(name: .long, help: "Authentication token (default: $ENGAGE_TOKEN).")
    var token: String = ProcessInfo.processInfo.environment["ENGAGE_TOKEN"] ?? ""

    @Flag(name: .long, help: "Connect over TLS, trusting the system's certificate authorities (or --tls-ca).")
    var tls = false

    @Option(name: .long, help: "PEM file of the certificate authority that signed the server's certificate; implies --tls (default: $ENGAGE_TLS_CA).")
    var tlsCA: String = ProcessInfo.processInfo.environment["ENGAGE_TLS_CA"] ?? ""

    @Option(name: .long, help: "Name the server's certificate must carry, when it differs from the --server host.")
    var tlsServerName: String?

    var tlsOptions: EngageTLS? {
        self.tls || !self.tlsCA.isEmpty ? EngageTLS(caFile: self.tlsCA.isEmpty ? nil : self.tlsCA, serverName: self.tlsServerName) : nil
    }

    @Option(name: .long, help: "Connections to open.")
    var connections: Int = 4

    @Option(name: .long, help: "json or table.")
    var format: ReportFormat = .table

    func connect(_ name: String) async throws -> [EngageClient] {
        var clients: [EngageClient] = []
        for index in 0..<Swift.max(1, self.connections) {
            do {
                clients.append(
                    try await EngageClient.connect(to: self.server, token: self.token, clientName: "\(name)-\(index)", tls: self.tlsOptions)
                )
            } catch {
                for client in clients { try? await client.close() }
                throw ValidationError("cannot connect to \(self.server): \(error)")
            }
        }
        return clients
    }
}

enum ReportFormat: String, ExpressibleByArgument {
    case json, table
}

extension LoadReport {
    func print(_ format: ReportFormat) {
        Swift.print(format == .json ? self.json() : self.table())
    }
}

/// The clock both loops measure with.
enum Clock {
    static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }
}
