import NIOCore
import NIOPosix
import NIOSSL

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Turns what NIO reports about a failed connection or handshake into an ``EngageClientError`` a person can
/// act on ("connection refused (is engaged running there?)") instead of NIO's internals.
enum ConnectFailure {
    static func classify(_ error: any Error, address: String, timeout: TimeAmount) -> EngageClientError {
        if let error = error as? NIOConnectionError {
            if error.dnsAError != nil || error.dnsAAAAError != nil, error.connectionErrors.isEmpty {
                return EngageClientError(
                    .cannotResolve,
                    "cannot connect to \(address): the host name cannot be resolved",
                    underlying: error
                )
            }
            if let first = error.connectionErrors.first {
                return self.classify(first.error, address: address, timeout: timeout)
            }
        }
        if let error = error as? IOError {
            switch error.errnoCode {
            case ECONNREFUSED:
                return EngageClientError(
                    .connectionRefused,
                    "cannot connect to \(address): connection refused (is engaged running there?)",
                    underlying: error
                )
            case ENETUNREACH, EHOSTUNREACH:
                return EngageClientError(
                    .connectionRefused,
                    "cannot connect to \(address): no route to the host",
                    underlying: error
                )
            default:
                return EngageClientError(
                    .connectionRefused,
                    "cannot connect to \(address): \(String(cString: strerror(error.errnoCode)))",
                    underlying: error
                )
            }
        }
        if let error = error as? ChannelError, case .connectTimeout = error {
            return EngageClientError(
                .connectTimeout,
                "cannot connect to \(address): no answer within \(timeout.nanoseconds / 1_000_000_000) s",
                underlying: error
            )
        }
        return EngageClientError(.connectionRefused, "cannot connect to \(address): \(error)", underlying: error)
    }

    /// The TCP connection worked but HELLO got no HELLO_OK.
    static func handshake(
        _ error: EngageClientError,
        address: String,
        tls: Bool,
        timeout: TimeAmount
    ) -> EngageClientError {
        switch error.code {
        case .server, .tls:
            return error
        case .timeout:
            return EngageClientError(
                .notAnEngageServer,
                "\(address) did not answer as an engaged server (no answer to HELLO within \(timeout.nanoseconds / 1_000_000_000) s)",
                underlying: error
            )
        case .connectionClosed where !tls:
            return EngageClientError(
                .notAnEngageServer,
                "\(address) closed the connection during the handshake: it is not an engaged server, or one that only "
                    + "accepts TLS clients (connect with --tls)",
                underlying: error
            )
        case .notAnEngageServer:
            return EngageClientError(
                .notAnEngageServer,
                "\(address) did not answer as an engaged server: \(error.message)",
                underlying: error
            )
        default:
            return EngageClientError(
                .notAnEngageServer,
                "\(address) did not answer as an engaged server",
                underlying: error
            )
        }
    }
}
