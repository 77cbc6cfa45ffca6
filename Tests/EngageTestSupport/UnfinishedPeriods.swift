import Foundation

/// The conformance expectations predate SEMANTICS.md's rule on unfinished periods: where a period ends after
/// the data's last day they hold whatever was counted so far. These helpers mark exactly those values as
/// unknown (`NSNull`), so that a test can demand `null` there and the exact expected value everywhere else.
public enum UnfinishedPeriods {
    /// The latest local date (YYYY-MM-DD) of any conformance event in `timeZone`, computed from
    /// events.jsonl with Foundation's calendar, independently of the code under test.
    public static func lastDay(timeZone: String) throws -> String {
        let text = try String(contentsOfFile: RepositoryPaths.conformanceFile("events.jsonl"), encoding: .utf8)
        let parser = ISO8601DateFormatter()
        parser.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        var latest = Date.distantPast
        for line in text.split(separator: "\n") {
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            if let ts = object["ts"] as? String, let date = parser.date(from: ts), date > latest { latest = date }
        }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: timeZone)!
        let parts = calendar.dateComponents([.year, .month, .day], from: latest)
        return String(format: "%04d-%02d-%02d", parts.year!, parts.month!, parts.day!)
    }

    /// `rows` with `keys` replaced by `NSNull` in every row for which `isUnfinished` holds.
    public static func mark(
        _ rows: [[String: Any]],
        keys: [String],
        where isUnfinished: ([String: Any]) -> Bool
    ) -> [[String: Any]] {
        rows.map { row in
            guard isUnfinished(row) else { return row }
            var marked = row
            for key in keys { marked[key] = NSNull() }
            return marked
        }
    }
}
