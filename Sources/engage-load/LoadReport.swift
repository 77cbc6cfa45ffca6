import Foundation
import Histogram
import NIOConcurrencyHelpers

/// Latencies in microseconds, shared by the tasks of one run.
final class LatencyRecorder: Sendable {
    private let histogram = NIOLockedValueBox(
        Histogram<UInt64>(highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: .three)
    )

    func record(microseconds: UInt64) {
        _ = self.histogram.withLockedValue { $0.record(Swift.max(1, microseconds)) }
    }

    var snapshot: Histogram<UInt64> { self.histogram.withLockedValue { $0 } }
}

/// Counters shared by the tasks of one run.
struct LoadCounters {
    var sent = 0
    var acknowledged = 0
    var accepted = 0
    var duplicates = 0
    var rejected = 0
    var errors = 0
    var firstError: String?
}

/// The final report: one JSON object (or a table).
struct LoadReport {
    var fields: [(String, Any)] = []

    mutating func add(_ name: String, _ value: Any) { self.fields.append((name, value)) }

    static func latency(_ histogram: Histogram<UInt64>) -> [(String, Double)] {
        func ms(_ value: UInt64) -> Double { (Double(value) / 1000 * 1000).rounded() / 1000 }
        guard histogram.totalCount > 0 else { return ["p50", "p90", "p99", "p999", "max"].map { ($0, 0) } }
        return [
            ("p50", ms(histogram.valueAtPercentile(50))), ("p90", ms(histogram.valueAtPercentile(90))),
            ("p99", ms(histogram.valueAtPercentile(99))), ("p999", ms(histogram.valueAtPercentile(99.9))),
            ("max", ms(histogram.max)),
        ]
    }

    func json() -> String {
        "{" + self.fields.map { "\"\($0.0)\": \(Self.render($0.1))" }.joined(separator: ", ") + "}"
    }

    func table() -> String {
        self.fields.map { name, value in
            let text: String
            if let pairs = value as? [(String, Double)] {
                text = pairs.map { "\($0.0) \(Self.render($0.1))" }.joined(separator: "  ")
            } else {
                text = Self.render(value).replacingOccurrences(of: "\"", with: "")
            }
            // Names longer than the column keep their full length (padding(toLength:) would cut them).
            return name.padding(toLength: Swift.max(18, name.count + 2), withPad: " ", startingAt: 0) + text
        }.joined(separator: "\n")
    }

    static func render(_ value: Any) -> String {
        switch value {
        case let pairs as [(String, Double)]:
            return "{" + pairs.map { "\"\($0.0)\": \(render($0.1))" }.joined(separator: ", ") + "}"
        case let numbers as [Double]: return "[" + numbers.map { render($0) }.joined(separator: ", ") + "]"
        case let number as Double:
            return number.isFinite
                ? String(format: "%.3f", number).replacingOccurrences(
                    of: #"\.?0+$"#,
                    with: "",
                    options: .regularExpression
                ) : "0"
        case let number as Int: return String(number)
        case let number as UInt64: return String(number)
        case let flag as Bool: return flag ? "true" : "false"
        case let text as String:
            return "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
                + "\""
        default: return "\"\(value)\""
        }
    }
}

/// Prints progress once a second on a terminal (standard error), never into the report.
struct ProgressLine {
    static var enabled: Bool { isatty(2) == 1 }

    static func show(_ text: String) {
        try? FileHandle.standardError.write(contentsOf: Data("\r\(text)\u{1B}[K".utf8))
    }

    static func end() {
        if self.enabled { try? FileHandle.standardError.write(contentsOf: Data("\n".utf8)) }
    }
}

extension Double {
    func formattedRate() -> String {
        self >= 1_000_000
            ? String(format: "%.2fM", self / 1_000_000)
            : self >= 1000 ? String(format: "%.1fk", self / 1000) : String(format: "%.0f", self)
    }
}
