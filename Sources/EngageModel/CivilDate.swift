/// A calendar date with no time zone: days since 1970-01-01 (proleptic Gregorian).
///
/// Every date Engage reports is a local date in the data directory's reporting time zone; this type carries
/// such dates between the store, the wire (as a signed 32-bit day number) and the tools (as `YYYY-MM-DD`).
public struct CivilDate: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var dayNumber: Int32

    public init(dayNumber: Int32) {
        self.dayNumber = dayNumber
    }

    /// The date `year`-`month`-`day`; nil when it does not exist.
    public init?(year: Int, month: Int, day: Int) {
        guard (1...12).contains(month), day >= 1, day <= CivilDate.daysIn(year: year, month: month) else {
            return nil
        }
        self.dayNumber = Int32(CivilDate.daysFromCivil(year: year, month: month, day: day))
    }

    /// Parses `YYYY-MM-DD` exactly (four-digit year, two-digit month and day).
    public init?(_ text: some StringProtocol) {
        let bytes = Array(text.utf8)
        guard bytes.count == 10, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-") else { return nil }
        guard let year = CivilDate.digits(bytes[0..<4]), let month = CivilDate.digits(bytes[5..<7]),
            let day = CivilDate.digits(bytes[8..<10])
        else { return nil }
        self.init(year: year, month: month, day: day)
    }

    public static func < (lhs: CivilDate, rhs: CivilDate) -> Bool { lhs.dayNumber < rhs.dayNumber }

    public var components: (year: Int, month: Int, day: Int) {
        CivilDate.civilFromDays(Int(self.dayNumber))
    }

    /// `YYYY-MM-DD`.
    public var description: String {
        let (year, month, day) = self.components
        return CivilDate.pad(year, 4) + "-" + CivilDate.pad(month, 2) + "-" + CivilDate.pad(day, 2)
    }

    public func adding(days: Int) -> CivilDate { CivilDate(dayNumber: self.dayNumber + Int32(days)) }

    /// ISO weekday: Monday = 1 ... Sunday = 7.
    public var isoWeekday: Int {
        // 1970-01-01 was a Thursday (4).
        let index = (Int(self.dayNumber) % 7 + 7 + 3) % 7
        return index + 1
    }

    /// The Monday that starts this date's week.
    public var startOfWeek: CivilDate { self.adding(days: -(self.isoWeekday - 1)) }

    /// The first day of this date's month.
    public var startOfMonth: CivilDate {
        let (year, month, _) = self.components
        return CivilDate(year: year, month: month, day: 1)!
    }

    /// The first day of the month `months` after this date's month.
    public func addingMonths(_ months: Int) -> CivilDate {
        CivilDate(monthIndex: self.monthIndex + months)
    }

    static func floorDivide(_ value: Int, _ divisor: Int) -> Int {
        value >= 0 ? value / divisor : -((-value + divisor - 1) / divisor)
    }

    static func floorModulo(_ value: Int, _ divisor: Int) -> Int {
        value - CivilDate.floorDivide(value, divisor) * divisor
    }

    /// Months since January 1970 (negative before).
    public var monthIndex: Int {
        let (year, month, _) = self.components
        return (year - 1970) * 12 + (month - 1)
    }

    /// The first day of month `index` counted from January 1970.
    public init(monthIndex: Int) {
        let total = 1970 * 12 + monthIndex
        self = CivilDate(year: CivilDate.floorDivide(total, 12), month: CivilDate.floorModulo(total, 12) + 1, day: 1)!
    }

    // MARK: - Calendar arithmetic (Howard Hinnant's days_from_civil / civil_from_days)

    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civilFromDays(_ days: Int) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }

    static func daysIn(year: Int, month: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    private static func digits(_ bytes: ArraySlice<UInt8>) -> Int? {
        var value = 0
        for byte in bytes {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
        }
        return value
    }

    private static func pad(_ value: Int, _ width: Int) -> String {
        let text = String(value)
        return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
    }
}

/// A calendar month, `YYYY-MM`.
public struct CivilMonth: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// Months since January 1970.
    public var index: Int

    public init(index: Int) { self.index = index }

    public init?(_ text: some StringProtocol) {
        guard text.utf8.count == 7, let date = CivilDate(text + "-01") else { return nil }
        self.index = date.monthIndex
    }

    public var firstDay: CivilDate { CivilDate(monthIndex: self.index) }
    public var lastDay: CivilDate { CivilDate(monthIndex: self.index + 1).adding(days: -1) }
    public var description: String { String(self.firstDay.description.prefix(7)) }
    public static func < (lhs: CivilMonth, rhs: CivilMonth) -> Bool { lhs.index < rhs.index }
}
