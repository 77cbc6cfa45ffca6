import EngageProtocol
import Foundation

/// What a token may do. `admin` may do everything.
public enum Role: String, CaseIterable, Sendable, Hashable {
    case ingest, query, admin
}

extension Command {
    /// The role an operation needs (`admin` may do everything); nil for none (HELLO, PING and WAIT_APPLIED,
    /// which reveals nothing but a sequence number).
    var requiredRole: Role? {
        switch self {
        case .waitApplied: return nil
        case .defineActions, .upsertUsers, .ingestEvents: return .ingest
        case .queryActivity, .stats, .queryActiveDays, .queryTiers, .queryTransitions, .queryRetention, .queryLifecycle,
            .querySessions, .queryUser, .queryAtRisk, .queryActions, .export, .queryValues, .changes, .exportUsers:
            return .query
        case .verify, .rebuild, .backup: return .admin
        }
    }
}

/// The tokens of `--tokens FILE`: one `TOKEN ROLE[,ROLE]` per line, `#` comments and blank lines ignored.
/// Tokens are compared in constant time and never logged.
public struct TokenTable: Sendable {
    private let entries: [(token: [UInt8], roles: Set<Role>)]

    public struct InvalidTokenFile: Error, CustomStringConvertible {
        public let description: String
    }

    public init(entries: [(token: String, roles: Set<Role>)]) {
        self.entries = entries.map { (Array($0.token.utf8), $0.roles) }
    }

    /// Reads a token file; errors name the line (never the token).
    public init(contentsOf path: String) throws {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw InvalidTokenFile(description: "cannot read the token file \(path)")
        }
        var entries: [(String, Set<Role>)] = []
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            let fields = trimmed.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count == 2 else {
                throw InvalidTokenFile(description: "\(path):\(number + 1): expected TOKEN ROLE[,ROLE]")
            }
            guard fields[0].utf8.count >= 16 else {
                throw InvalidTokenFile(description: "\(path):\(number + 1): tokens must be at least 16 characters")
            }
            var roles = Set<Role>()
            for name in fields[1].split(separator: ",") {
                guard let role = Role(rawValue: String(name)) else {
                    throw InvalidTokenFile(
                        description: "\(path):\(number + 1): unknown role '\(name)' (use ingest, query, admin)"
                    )
                }
                roles.insert(role)
            }
            entries.append((String(fields[0]), roles))
        }
        guard !entries.isEmpty else { throw InvalidTokenFile(description: "\(path) holds no token") }
        self.init(entries: entries)
    }

    /// The roles of `token`, or nil. Compares against every entry, in time independent of where (or
    /// whether) it matches and of how many bytes agree.
    public func roles(of token: String) -> Set<Role>? {
        let presented = Array(token.utf8)
        var found: Set<Role>?
        for entry in self.entries {
            var difference = UInt(bitPattern: presented.count ^ entry.token.count)
            let length = max(presented.count, entry.token.count)
            for index in 0..<length {
                let left = index < presented.count ? presented[index] : 0
                let right = index < entry.token.count ? entry.token[index] : 0
                difference |= UInt(left ^ right)
            }
            if difference == 0 { found = entry.roles }
        }
        return found
    }
}
