import ArgumentParser
import EngageClient
import Foundation

/// Where the server is and how to reach it: the options `engage` and `engage-load` share.
public struct ClientConnectionOptions: ParsableArguments {
    // Optional, the environment read at use: a default computed from it would be printed by --help as if fixed.
    @Option(
        name: .customLong("server"),
        help:
            "Server address HOST:PORT (default: $ENGAGE_SERVER, else 127.0.0.1:7733); where users are partitioned over several nodes, HOST:PORT,HOST:PORT,... in node order."
    )
    public var serverOption: String?

    /// `--server`, else `$ENGAGE_SERVER`, else `127.0.0.1:7733`.
    public var server: String {
        self.serverOption ?? ProcessInfo.processInfo.environment["ENGAGE_SERVER"] ?? "127.0.0.1:7733"
    }

    /// The nodes of `--server HOST:PORT,HOST:PORT,...` in order (one for a single server).
    public var servers: [String] {
        self.server.split(separator: ",", omittingEmptySubsequences: false).map {
            String($0).trimmingCharacters(in: .whitespaces)
        }
    }

    @Option(name: .long, help: "Authentication token (default: $ENGAGE_TOKEN). Visible in `ps`: prefer --token-file.")
    public var token: String?

    @Option(name: .long, help: "File holding the authentication token (surrounding whitespace ignored).")
    public var tokenFile: String?

    @Flag(name: .long, help: "Connect over TLS, trusting the system's certificate authorities (or --tls-ca).")
    public var tls = false

    @Option(
        name: .customLong("tls-ca"),
        help:
            "PEM file of the certificate authority that signed the server's certificate; implies --tls (default: $ENGAGE_TLS_CA)."
    )
    public var tlsCAOption: String?

    /// `--tls-ca`, else `$ENGAGE_TLS_CA`, else none.
    public var tlsCA: String { self.tlsCAOption ?? ProcessInfo.processInfo.environment["ENGAGE_TLS_CA"] ?? "" }

    @Option(name: .long, help: "Name the server's certificate must carry, when it differs from the --server host.")
    public var tlsServerName: String?

    public init() {}

    public func validate() throws {
        if self.token != nil && self.tokenFile != nil {
            throw ValidationError("give --token or --token-file, not both")
        }
        if let tokenFile, !FileManager.default.isReadableFile(atPath: tokenFile) {
            throw ValidationError("cannot read the token file \(tokenFile)")
        }
    }

    /// `--token`, else the contents of `--token-file`, else `$ENGAGE_TOKEN`, else none.
    public func effectiveToken() throws -> String {
        if let token { return token }
        if let tokenFile {
            guard let text = try? String(contentsOfFile: tokenFile, encoding: .utf8) else {
                throw ValidationError("cannot read the token file \(tokenFile)")
            }
            return text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return ProcessInfo.processInfo.environment["ENGAGE_TOKEN"] ?? ""
    }

    public var tlsOptions: EngageClientConfiguration.TLS? {
        guard self.tls || !self.tlsCA.isEmpty else { return nil }
        return EngageClientConfiguration.TLS(
            caFile: self.tlsCA.isEmpty ? nil : self.tlsCA,
            serverName: self.tlsServerName
        )
    }

    /// The client configuration these options describe; `requestTimeout` nil waits as long as a request takes
    /// (an admin command, a verify of a large store).
    public func configuration(
        clientName: String,
        requestTimeout: Duration? = .seconds(60)
    ) throws -> EngageClientConfiguration {
        let token = try self.effectiveToken()
        return EngageClientConfiguration(
            server: self.server,
            token: token.isEmpty ? nil : token,
            tls: self.tlsOptions,
            clientName: clientName,
            requestTimeout: requestTimeout
        )
    }

    /// Connects to every node of `--server A,B,...` (users partitioned over them by ``NodeRouting``).
    public func connectCluster(
        clientName: String,
        requestTimeout: Duration? = .seconds(60)
    ) async throws
        -> EngageCluster
    {
        let base = try self.configuration(clientName: clientName, requestTimeout: requestTimeout)
        return try await EngageCluster.connect(
            self.servers.map { server in
                var configuration = base
                configuration.server = server
                return configuration
            }
        )
    }

    /// Connects and shakes hands; failures are ``EngageClientError``s whose message names the server and the
    /// cause in words ("connection refused (is engaged running there?)").
    public func connect(clientName: String, requestTimeout: Duration? = .seconds(60)) async throws -> EngageConnection {
        if self.servers.count > 1 {
            throw EngageClientError(
                .invalidAddress,
                "--server lists \(self.servers.count) nodes: this command talks to one node (importing routes users over several)"
            )
        }
        return try await EngageConnection.connect(
            try self.configuration(clientName: clientName, requestTimeout: requestTimeout)
        )
    }
}
