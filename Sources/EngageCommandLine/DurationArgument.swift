import ArgumentParser

/// The one duration syntax of every duration flag of `engaged`, `engage` and `engage-load`: a positive
/// whole number with a unit, `250ms`, `90s`, `30m`, `1h`. A bare number is refused (is `30` seconds or
/// minutes?), with a message that shows the syntax.
public struct DurationArgument: ExpressibleByArgument, Hashable, Sendable, CustomStringConvertible {
    public let milliseconds: Int64

    public init(milliseconds: Int64) { self.milliseconds = milliseconds }

    public init?(argument: String) {
        guard let value = try? Self.parse(argument) else { return nil }
        self = value
    }

    public static let syntax = "a number with a unit: 250ms, 90s, 30m or 1h"

    public static func parse(_ text: String) throws -> DurationArgument {
        let units: [(String, Int64)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000)]
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            let number = text.dropLast(suffix.count)
            // "ms" also ends in "s": the loop tries "ms" first, and "5ms" never reads as 5m + "s".
            if let value = Int64(number), value > 0, value <= Int64.max / factor {
                return DurationArgument(milliseconds: value * factor)
            }
        }
        if Int64(text) != nil {
            throw ValidationError("'\(text)' has no unit; give \(Self.syntax)")
        }
        throw ValidationError("cannot read the duration '\(text)'; give \(Self.syntax)")
    }

    public var seconds: Double { Double(self.milliseconds) / 1000 }

    /// The shortest exact spelling: 30m, 90s, 250ms.
    public var description: String {
        for (suffix, factor) in [("h", Int64(3_600_000)), ("m", 60_000), ("s", 1000)]
        where self.milliseconds % factor == 0 {
            return "\(self.milliseconds / factor)\(suffix)"
        }
        return "\(self.milliseconds)ms"
    }

    public var defaultValueDescription: String { self.description }
}
