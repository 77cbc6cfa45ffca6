import EngageModel
import EngageOutput
import EngageProtocol
import HTTPTypes

/// The query string of a request, decoded as `application/x-www-form-urlencoded` (what browsers' URLSearchParams
/// and curl's `--data-urlencode` write). Written here rather than taken from Hummingbird's `queryParameters`,
/// which decodes values but not names, leaves `+` as it is, and keeps a value whose percent-encoding is
/// broken as raw text: here each of those is decoded, and a broken one is refused with its name.
struct QueryParameters {
    private(set) var pairs: [(name: String, value: String)] = []

    init(_ query: String?) throws(Problem) {
        guard let query, !query.isEmpty else { return }
        for field in query.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = field.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = Self.decode(parts[0]) else {
                throw Problem.invalidQuery("a parameter name is not valid percent-encoded UTF-8")
            }
            guard let value = Self.decode(parts.count > 1 ? parts[1] : "") else {
                throw Problem.invalidQuery("the value of '\(name)' is not valid percent-encoded UTF-8")
            }
            self.pairs.append((name, value))
        }
    }

    static func decode(_ text: Substring) -> String? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "+"): bytes.append(0x20)
            case UInt8(ascii: "%"):
                guard let high = iterator.next().flatMap(Self.hexValue),
                    let low = iterator.next().flatMap(Self.hexValue)
                else { return nil }
                bytes.append(high << 4 | low)
            default: bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    func all(_ name: String) -> [String] { self.pairs.filter { $0.name == name }.map(\.value) }

    /// Refuses any parameter not in `allowed` (a misspelt one would otherwise be ignored silently) and any
    /// but `where` given twice.
    func check(allowed: [String], query: String) throws(Problem) {
        var seen = Set<String>()
        for (name, _) in self.pairs {
            guard allowed.contains(name) else {
                let list = allowed.isEmpty ? "none" : allowed.joined(separator: ", ")
                throw Problem.invalidQuery("unknown parameter '\(name)' for \(query); parameters: \(list)")
            }
            if name != "where" && !seen.insert(name).inserted {
                throw Problem.invalidQuery("'\(name)' is given more than once")
            }
        }
    }

    func string(_ name: String) -> String? { self.pairs.first { $0.name == name }?.value }

    func required(_ name: String) throws(Problem) -> String {
        guard let value = self.string(name) else { throw Problem.invalidQuery("missing parameter '\(name)'") }
        return value
    }

    func date(_ name: String) throws(Problem) -> CivilDate? {
        guard let text = self.string(name) else { return nil }
        guard let date = CivilDate(text) else {
            throw Problem.invalidQuery("\(name) '\(text.prefix(40))' is not a date YYYY-MM-DD")
        }
        return date
    }

    func requiredDate(_ name: String) throws(Problem) -> CivilDate {
        guard let date = try self.date(name) else { throw Problem.invalidQuery("missing parameter '\(name)'") }
        return date
    }

    func month(_ name: String) throws(Problem) -> CivilMonth? {
        guard let text = self.string(name) else { return nil }
        guard let month = CivilMonth(text) else {
            throw Problem.invalidQuery("\(name) '\(text.prefix(40))' is not a month YYYY-MM")
        }
        return month
    }

    func integer(_ name: String) throws(Problem) -> Int? {
        guard let text = self.string(name) else { return nil }
        guard let value = Int(text) else {
            throw Problem.invalidQuery("\(name) '\(text.prefix(40))' is not an integer")
        }
        return value
    }

    func period() throws(Problem) -> Period {
        let text = try self.required("period")
        guard let period = Period(rawValue: text) else {
            throw Problem.invalidQuery("period '\(text.prefix(40))' is not day, week or month")
        }
        return period
    }

    func dimension(_ name: String) throws(Problem) -> Dimension? {
        guard let text = self.string(name) else { return nil }
        guard let dimension = Dimension(name: text) else {
            throw Problem.invalidQuery(
                "\(name) '\(text.prefix(40))' is not an attribute; use \(Dimension.allNames.joined(separator: ", "))"
            )
        }
        return dimension
    }

    /// `where=attr=value` (repeatable): values of one attribute OR, attributes AND.
    func filters() throws(Problem) -> [DimensionFilter] {
        var pairs: [(Dimension, String)] = []
        for text in self.all("where") {
            do {
                let filter = try FilterArgument.parse(text)
                pairs.append((filter.dimension, filter.value))
            } catch {
                throw Problem.invalidQuery("where: \(error.description)")
            }
        }
        return DimensionFilter.grouping(pairs)
    }

    func range() throws(Problem) -> (CivilDate, CivilDate) {
        let from = try self.requiredDate("from")
        let to = try self.requiredDate("to")
        if from > to { throw Problem.invalidQuery("from \(from) is after to \(to)") }
        return (from, to)
    }
}

/// A query of the API: the request it sends through the binary protocol's handler, and how its answer
/// becomes the body `engage query NAME --format json` prints.
struct APIQuery {
    let command: Command
    /// The body for the handler's answer; nil when the answer is of another kind (never expected).
    let render: @Sendable (Response, _ timeZone: String) throws(Problem) -> String

    /// `engage query NAME` for every NAME; `stats` for `GET /v1/stats`.
    static let names = [
        "activity", "active-days", "tiers", "transitions", "retention", "lifecycle", "sessions", "user", "at-risk",
        "actions", "values",
    ]

    /// The parameters each query takes: its `engage query` flags.
    static let parameters: [String: [String]] = [
        "activity": ["from", "to", "where", "by"],
        "active-days": ["month", "from", "to", "where", "by"],
        "tiers": ["month", "as-of", "where", "by"],
        "transitions": ["month", "where"],
        "retention": ["period", "from", "to", "periods", "where", "by"],
        "lifecycle": ["period", "from", "to", "where"],
        "sessions": ["from", "to", "where"],
        "user": ["id"],
        "at-risk": ["as-of", "limit", "where"],
        "actions": ["from", "to", "where"],
        "values": ["dimension"],
        "stats": [],
    ]

    static func unexpected(_ response: Response) -> Problem {
        Problem(
            .internalServerError,
            .internalError,
            title: "Internal error",
            detail: "unexpected answer \(response.type) to a query"
        )
    }

    init(command: Command, render: @escaping @Sendable (Response, String) throws(Problem) -> String) {
        self.command = command
        self.render = render
    }

    /// Builds the query `name` from the request's parameters, with the CLI's rules and messages.
    init(name: String, _ parameters: QueryParameters) throws(Problem) {
        guard let allowed = Self.parameters[name] else {
            throw Problem.notFound("no query '\(name)'; queries: \(Self.names.joined(separator: ", "))")
        }
        try parameters.check(allowed: allowed, query: name)
        let breakdown = allowed.contains("by") ? try parameters.dimension("by") : nil
        let filters = allowed.contains("where") ? try parameters.filters() : []
        let selection = Selection(filters: filters, breakdown: breakdown)
        let grouped = breakdown != nil
        switch name {
        case "activity":
            let (from, to) = try parameters.range()
            self.init(
                command: .queryActivity(
                    QueryActivity(ActivityQuery(from: from, to: to, filters: filters, breakdown: breakdown))
                )
            ) { response, _ throws(Problem) in
                guard case .activityResult(let result) = response else { throw Self.unexpected(response) }
                return QueryReports.activity(result.rows, grouped: grouped).render(.json)
            }
        case "active-days":
            let month = try parameters.month("month")
            let from = try parameters.date("from")
            let to = try parameters.date("to")
            let days: (CivilDate, CivilDate)
            switch (month, from, to) {
            case (.some(let month), nil, nil): days = (month.firstDay, month.lastDay)
            case (nil, .some(let from), .some(let to)):
                if from > to { throw Problem.invalidQuery("from \(from) is after to \(to)") }
                days = (from, to)
            default: throw Problem.invalidQuery("give either month, or from and to")
            }
            self.init(command: .queryActiveDays(QueryActiveDays(from: days.0, to: days.1, selection))) {
                response,
                _ throws(Problem) in
                guard case .activeDaysResult(let result) = response else { throw Self.unexpected(response) }
                return QueryReports.activeDays(result.rows, grouped: grouped).render(.json)
            }
        case "tiers":
            let window: TierWindow
            switch (try parameters.month("month"), try parameters.date("as-of")) {
            case (.some(let month), nil): window = .month(month)
            case (nil, .some(let day)): window = .asOf(day)
            default: throw Problem.invalidQuery("give either month or as-of")
            }
            self.init(command: .queryTiers(QueryTiers(window, selection))) { response, _ throws(Problem) in
                guard case .tiersResult(let result) = response else { throw Self.unexpected(response) }
                return QueryReports.tiers(result.rows, grouped: grouped).render(.json)
            }
        case "transitions":
            guard let month = try parameters.month("month") else {
                throw Problem.invalidQuery("missing parameter 'month'")
            }
            self.init(command: .queryTransitions(QueryTransitions(month, filters: filters))) {
                response,
                _ throws(Problem) in
                guard case .transitionsResult(let result) = response else { throw Self.unexpected(response) }
                return QueryReports.transitions(result.rows).render(.json)
            }
        case "retention":
            let period = try parameters.period()
            let (from, to) = try parameters.range()
            guard let periods = try parameters.integer("periods") else {
                throw Problem.invalidQuery("missing parameter 'periods'")
            }
            guard (0...400).contains(periods) else { throw Problem.invalidQuery("periods must be 0...400") }
            self.init(
                command: .queryRetention(
                    QueryRetention(period: period, from: from, to: to, periods: periods, selection)
                )
            ) { response, _ throws(Problem) in
                guard case .retentionResult(let result) = response else { throw Self.unexpected(response) }
                return QueryReports.retention(result.rows, grouped: grouped).render(.json)
            }
        case "lifecycle":
            let period = try parameters.period()
            let (from, to) = try parameters.range()
            self.init(
                command: .queryLifecycle(QueryLifecycle(period: period, from: from, to: to, filters: filters))
            ) { response, _ throws(Problem) in
                guard case .lifecycleResult(let result) = response else { throw Self.unexpected(response) }
                return QueryReports.lifecycle(result.rows).render(.json)
            }
        case "sessions":
            let (from, to) = try parameters.range()
            self.init(command: .querySessions(QuerySessions(from: from, to: to, filters: filters))) {
                response,
                _ throws(Problem) in
                guard case .sessionsResult(let result) = response else { throw Self.unexpected(response) }
                return QueryReports.sessions(result.summary).render(.json)
            }
        case "user":
            let id = try parameters.required("id")
            guard Limits.userIDBytes.contains(id.utf8.count) else {
                throw Problem.invalidQuery("id must be 1...\(Limits.userIDBytes.upperBound) bytes of UTF-8")
            }
            self.init(command: .queryUser(QueryUser(userID: id))) { response, timeZone throws(Problem) in
                guard case .userResult(let result) = response else { throw Self.unexpected(response) }
                guard let detail = result.detail else { throw Problem.notFound("no user with user_id '\(id)'") }
                return QueryReports.user(detail, timeZone: timeZone).json
            }
        case "at-risk":
            let asOf = try parameters.requiredDate("as-of")
            let limit = try parameters.integer("limit") ?? 100
            guard limit >= 1 else { throw Problem.invalidQuery("limit must be at least 1") }
            self.init(command: .queryAtRisk(QueryAtRisk(asOf: asOf, limit: limit, filters: filters))) {
                response,
                _ throws(Problem) in
                guard case .atRiskResult(let result) = response else { throw Self.unexpected(response) }
                return QueryReports.atRisk(result.rows).render(.json)
            }
        case "actions":
            let (from, to) = try parameters.range()
            self.init(command: .queryActions(QueryActions(from: from, to: to, filters: filters))) {
                response,
                _ throws(Problem) in
                guard case .actionsResult(let result) = response else { throw Self.unexpected(response) }
                return QueryReports.actions(result.rows).render(.json)
            }
        case "values":
            guard let dimension = try parameters.dimension("dimension") else {
                throw Problem.invalidQuery("missing parameter 'dimension'")
            }
            self.init(command: .queryValues(QueryValues(dimension))) { response, _ throws(Problem) in
                guard case .valuesResult(let result) = response else { throw Self.unexpected(response) }
                return QueryReports.values(result.rows).render(.json)
            }
        default:  // "stats"
            self.init(command: .stats(Stats())) { response, _ throws(Problem) in
                guard case .statsResult(let result) = response else { throw Self.unexpected(response) }
                return QueryReports.stats(result.stats).render(.json)
            }
        }
    }
}
