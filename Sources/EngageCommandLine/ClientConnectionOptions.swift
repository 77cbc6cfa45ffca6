import ArgumentParser
import EngageClient
import Foundation

/// Where the server is and how to reach it: the options `engage` and `engage-load` share.
public struct ClientConnectionOptions: ParsableArguments {
    @Option(name: .long, help: "Server address HOST:PORT; $ENGAGE_SERVER overrides the default.")
    public var server: String = ProcessInfo.processInfo.environment["ENGAGE_SERVER"] ?? "127.0.0.1:7733"

    // Optional with the environment read at use: a default value would be printed by --help.
    @Option(name: .long, help: "Authentication token (default: $ENGAGE_TOKEN).")
    public var token: String?

    /// `--token`, else `$ENGAGE_TOKEN`, else none.
    public var effectiveToken: String { self.token ?? ProcessInfo.processInfo.environment["ENGAGE_TOKEN"] ?? "" }

    @Flag(name: .long, help: "Connect over TLS, trusting the system's certificate authorities (or --tls-ca).")
    public var tls = false

    @Option(name: .long, help: "PEM file of the certificate authority that signed the server's certificate; implies --tls (default: $ENGAGE_TLS_CA).")
    public var tlsCA: String = ProcessInfo.processInfo.environment["ENGAGE_TLS_CA"] ?? ""

    @Option(name: .long, help: "Name the server's certificate must carry, when it differs from the --server host.")
    public var tlsServerName: String?

    public init() {}

    public var tlsOptions: EngageTLS? {
        guard self.tls || !self.tlsCA.isEmpty else { return nil }
        return EngageTLS(caFile: self.tlsCA.isEmpty ? nil : self.tlsCA, serverName: self.tlsServerName)
    }

    /// Connects, or throws ``ConnectionFailed`` naming the server and the cause.
    public func connect(clientName: String) async throws -> EngageClient {
        do {
            return try await EngageClient.connect(to: self.server, token: self.effectiveToken, clientName: clientName, tls: self.tlsOptions)
        } catch {
            throw ConnectionFailed(description: "cannot connect to \(self.server): \(error)")
        }
    }
}

/// The server could not be reached or refused the handshake (a runtime failure, not a usage error).
public struct ConnectionFailed: Error, CustomStringConvertible {
    public let description: String
}
