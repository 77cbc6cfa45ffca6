import NIOSSL

/// TLS for a client connection: the server's certificate is verified against `caFile` (PEM), or against the
/// system's trust store when nil, and must name `serverName` (by default the host connected to; for an IP
/// address, the certificate must list that address).
public struct EngageTLS: Sendable, Equatable {
    public var caFile: String?
    public var serverName: String?

    public init(caFile: String? = nil, serverName: String? = nil) {
        self.caFile = caFile
        self.serverName = serverName
    }

    func configuration() throws -> TLSConfiguration {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        if let caFile = self.caFile {
            configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
        }
        return configuration
    }

    static func isIPAddress(_ host: String) -> Bool {
        host.contains(":")
            || host.split(separator: ".").count == 4 && host.split(separator: ".").allSatisfy { UInt8($0) != nil }
    }
}
