/// One derived record that differs from what the raw events imply.
public struct VerificationIssue: Hashable, Sendable, CustomStringConvertible {
    /// The derived table (`daily`, `sessions`, `day_active`, `series`, `day_totals`, `user_months`,
    /// `registrations`, `users`).
    public var table: String
    /// The record, readably (`2026-01-03 user u7-000001`).
    public var key: String
    /// `missing` (should exist), `unexpected` (should not), or which fields differ.
    public var detail: String

    public init(table: String, key: String, detail: String) {
        self.table = table
        self.key = key
        self.detail = detail
    }

    public var description: String { "\(self.table) \(self.key): \(self.detail)" }
}

public struct VerificationReport: Hashable, Sendable {
    /// Records compared per table.
    public var checked: [String: Int]
    /// The first differences found (at most the number asked for).
    public var issues: [VerificationIssue]
    /// All differences found.
    public var totalIssues: Int

    public init(checked: [String: Int], issues: [VerificationIssue], totalIssues: Int) {
        self.checked = checked
        self.issues = issues
        self.totalIssues = totalIssues
    }

    public var isClean: Bool { self.totalIssues == 0 }
}
