/// A user's engagement tier over a window (SEMANTICS.md, "Distribution and tiers").
public enum Tier: UInt8, CaseIterable, Sendable, Comparable, CustomStringConvertible {
    case inactive = 0
    case casual = 1
    case regular = 2
    case core = 3
    case power = 4

    /// `inactive`, `casual`, `regular`, `core` or `power`: the names reports and the wire use.
    public var name: String {
        switch self {
        case .inactive: return "inactive"
        case .casual: return "casual"
        case .regular: return "regular"
        case .core: return "core"
        case .power: return "power"
        }
    }

    public init?(name: String) {
        guard let tier = Tier.allCases.first(where: { $0.name == name }) else { return nil }
        self = tier
    }

    public var description: String { self.name }

    /// The tier of `activeDays` active days with `actions` total actions over them.
    public static func of(activeDays: Int, actions: Int, powerThreshold: Int) -> Tier {
        switch activeDays {
        case 0: return .inactive
        case 1...5: return .casual
        case 6...15: return .regular
        default: return actions >= powerThreshold * activeDays ? .power : .core
        }
    }

    /// The tiers a tier table lists, in its order.
    public static let reported: [Tier] = [.power, .core, .regular, .casual]

    public static func < (lhs: Tier, rhs: Tier) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// What a session was (SEMANTICS.md, "Sessions").
public enum SessionType: String, CaseIterable, Sendable, CustomStringConvertible {
    /// One event.
    case bounce
    /// More than one event, at least one of them a core action.
    case engaged
    /// More than one event, none a core action.
    case passive

    public static func of(actions: Int, coreActions: Int) -> SessionType {
        if actions == 1 { return .bounce }
        return coreActions > 0 ? .engaged : .passive
    }

    public var description: String { self.rawValue }
}
