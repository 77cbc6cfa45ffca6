import Foundation

/// Files of the repository that tests read in place.
public enum RepositoryPaths {
    /// The repository root (two levels above this file's directory).
    public static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// The conformance data set copied from the contract.
    public static let conformance = root.appendingPathComponent("Tests/Fixtures/conformance")

    public static func conformanceFile(_ name: String) -> String { conformance.appendingPathComponent(name).path }

    /// Test-only TLS certificates made by tools/make-test-certs.
    public static func tlsFile(_ name: String) -> String {
        root.appendingPathComponent("Tests/Fixtures/tls/\(name)").path
    }

    public static let protocolVectors = root.appendingPathComponent("proto-spec/vectors.json")
}
