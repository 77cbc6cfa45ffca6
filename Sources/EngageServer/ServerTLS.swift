import NIOSSL

/// The server's TLS identity, loaded from PEM files (`engaged --tls-cert --tls-key`).
public enum ServerTLS {
    /// The context of a configuration ``makeConfiguration(certificateFile:keyFile:)`` made of those files
    /// (named in the error when the certificate and the key do not go together).
    public static func makeContext(
        _ configuration: TLSConfiguration,
        certificateFile: String,
        keyFile: String
    ) throws -> NIOSSLContext {
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw TLSSetupError(
                description:
                    "the certificate in \(certificateFile) and the key in \(keyFile) cannot be used together: \(error)"
            )
        }
    }

    /// TLS 1.2 and later with the certificate chain in `certificateFile` (server certificate first) and its
    /// private key; errors name the file that could not be used. The HTTP API's TLS takes this configuration,
    /// the binary port a context made of it (``makeContext(_:certificateFile:keyFile:)``).
    public static func makeConfiguration(certificateFile: String, keyFile: String) throws -> TLSConfiguration {
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certificateFile)
        } catch {
            throw TLSSetupError(description: "cannot read the certificate chain in \(certificateFile): \(error)")
        }
        guard !chain.isEmpty else { throw TLSSetupError(description: "\(certificateFile) holds no PEM certificate") }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(file: keyFile, format: .pem)
        } catch {
            throw TLSSetupError(description: "cannot read the private key in \(keyFile): \(error)")
        }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) },
            privateKey: .privateKey(key)
        )
        configuration.minimumTLSVersion = .tlsv12
        return configuration
    }
}

public struct TLSSetupError: Error, CustomStringConvertible {
    public let description: String
}
