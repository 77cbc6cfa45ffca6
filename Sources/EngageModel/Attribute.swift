/// A user attribute that filters and breakdowns can name.
public enum Attribute: String, CaseIterable, Sendable, Hashable {
    case acquisitionChannel = "acquisition_channel"
    case userSegment = "user_segment"
    case deviceType = "device_type"
    case region = "region"

    /// Position in stored user records and in the wire's attribute mask (bit `index`).
    public var index: Int {
        switch self {
        case .acquisitionChannel: return 0
        case .userSegment: return 1
        case .deviceType: return 2
        case .region: return 3
        }
    }

    public init?(index: Int) {
        guard let attribute = Attribute.allCases.first(where: { $0.index == index }) else { return nil }
        self = attribute
    }

    /// The value of a user known only from events.
    public static let unknownValue = "unknown"
}

/// What a filter or a breakdown selects users by: a user attribute or the registration month (`cohort`).
public enum Dimension: Hashable, Sendable, CustomStringConvertible {
    case attribute(Attribute)
    /// The registration month, values `YYYY-MM`.
    case cohort

    public init?(name: String) {
        if name == "cohort" {
            self = .cohort
        } else if let attribute = Attribute(rawValue: name) {
            self = .attribute(attribute)
        } else {
            return nil
        }
    }

    public var name: String {
        switch self {
        case .attribute(let attribute): return attribute.rawValue
        case .cohort: return "cohort"
        }
    }

    public var description: String { self.name }

    public static let allNames = Attribute.allCases.map(\.rawValue) + ["cohort"]
}

/// `attribute = value` (one of several values: they OR). Several filters AND.
public struct DimensionFilter: Hashable, Sendable {
    public var dimension: Dimension
    public var values: [String]

    public init(dimension: Dimension, values: [String]) {
        self.dimension = dimension
        self.values = values
    }

    /// Groups `attr=value` pairs by dimension, keeping first-seen order, so repeated attributes OR.
    public static func grouping(_ pairs: [(Dimension, String)]) -> [DimensionFilter] {
        var filters: [DimensionFilter] = []
        for (dimension, value) in pairs {
            if let index = filters.firstIndex(where: { $0.dimension == dimension }) {
                if !filters[index].values.contains(value) { filters[index].values.append(value) }
            } else {
                filters.append(DimensionFilter(dimension: dimension, values: [value]))
            }
        }
        return filters
    }
}

/// One `attr=value` filter as people write it (`engage query --where`, the HTTP API's `where`), with errors
/// that say what is accepted.
public struct FilterArgument: Hashable, Sendable {
    public let dimension: Dimension
    public let value: String

    public struct Invalid: Error, Hashable, Sendable, CustomStringConvertible {
        public let description: String
    }

    public static let attributesHelp =
        "acquisition_channel, user_segment, device_type, region, or cohort (registration month YYYY-MM)"

    public static func parse(_ argument: String) throws(Invalid) -> FilterArgument {
        guard let equals = argument.firstIndex(of: "="), argument.index(after: equals) < argument.endIndex else {
            throw Invalid(description: "'\(argument)' is not attr=value (attributes: \(Self.attributesHelp))")
        }
        let name = String(argument[..<equals])
        guard let dimension = Dimension(name: name) else {
            throw Invalid(description: "unknown attribute '\(name)'; use \(Self.attributesHelp)")
        }
        let value = String(argument[argument.index(after: equals)...])
        if dimension == .cohort && CivilMonth(value) == nil {
            throw Invalid(description: "cohort values are registration months YYYY-MM, not '\(value)'")
        }
        return FilterArgument(dimension: dimension, value: value)
    }
}
