import EngageModel
import Foundation

/// Maps instants to local calendar days in one IANA time zone, DST-aware, without `Calendar` on the hot path.
///
/// The zone's UTC offsets are read once, as the list of transitions from 1999 to 2180; an instant's offset is
/// then a binary search (with a one-entry memo, since events arrive roughly in time order).
public struct ReportingTimeZone: Sendable, Equatable {
    public let identifier: String
    /// Instants (ms since epoch) at which a new UTC offset starts, ascending; `offsetsMs[i]` applies from
    /// `startsMs[i]` until `startsMs[i + 1]`.
    private let startsMs: [Int64]
    private let offsetsMs: [Int64]

    public static let utc = try! ReportingTimeZone(identifier: "UTC")

    public struct UnknownTimeZone: Error, CustomStringConvertible {
        public let identifier: String
        public var description: String {
            "unknown time zone '\(self.identifier)': use an IANA name such as UTC or America/New_York"
        }
    }

    public init(identifier: String) throws {
        guard let zone = TimeZone(identifier: identifier) else { throw UnknownTimeZone(identifier: identifier) }
        let firstInstant = Date(timeIntervalSince1970: 915_148_800)  // 1999-01-01
        let lastInstant: TimeInterval = 6_627_456_000  // 2180-01-01
        var starts: [Int64] = [Int64.min]
        var offsets: [Int64] = [Int64(zone.secondsFromGMT(for: firstInstant)) * 1000]
        var cursor = firstInstant
        while let next = zone.nextDaylightSavingTimeTransition(after: cursor),
            next.timeIntervalSince1970 < lastInstant
        {
            let offset = Int64(zone.secondsFromGMT(for: next)) * 1000
            if offset != offsets.last {
                starts.append(Int64(next.timeIntervalSince1970 * 1000))
                offsets.append(offset)
            }
            cursor = next
        }
        self.identifier = identifier
        self.startsMs = starts
        self.offsetsMs = offsets
    }

    /// The UTC offset in milliseconds at `epochMs`.
    public func offsetMs(at epochMs: Int64) -> Int64 {
        self.offsetsMs[self.intervalIndex(containing: epochMs)]
    }

    func intervalIndex(containing epochMs: Int64) -> Int {
        var low = 0
        var high = self.startsMs.count - 1
        while low < high {
            let middle = (low + high + 1) / 2
            if self.startsMs[middle] <= epochMs { low = middle } else { high = middle - 1 }
        }
        return low
    }

    /// The local calendar day of the instant `epochMs`.
    public func localDay(epochMs: Int64) -> CivilDate {
        let local = epochMs + self.offsetMs(at: epochMs)
        return CivilDate(dayNumber: Int32(Self.floorDivide(local, 86_400_000)))
    }

    static func floorDivide(_ value: Int64, _ divisor: Int64) -> Int64 {
        let quotient = value / divisor
        return (value % divisor != 0 && (value < 0) != (divisor < 0)) ? quotient - 1 : quotient
    }

    /// A memo of the last interval used: events in one batch mostly share an offset.
    public struct DayMapper {
        let zone: ReportingTimeZone
        var start: Int64 = 1
        var end: Int64 = 0
        var offset: Int64 = 0

        public init(zone: ReportingTimeZone) { self.zone = zone }

        public mutating func localDay(epochMs: Int64) -> CivilDate {
            if epochMs < self.start || epochMs >= self.end {
                let index = self.zone.intervalIndex(containing: epochMs)
                self.start = self.zone.startsMs[index]
                self.end = index + 1 < self.zone.startsMs.count ? self.zone.startsMs[index + 1] : Int64.max
                self.offset = self.zone.offsetsMs[index]
            }
            return CivilDate(dayNumber: Int32(ReportingTimeZone.floorDivide(epochMs + self.offset, 86_400_000)))
        }
    }
}
