import EngageModel
import EngageProtocol

extension EngageClient {
    /// Sends `request` and extracts the response it must get.
    func call<Value>(_ request: Request, _ extract: (Response) -> Value?) async throws -> Value {
        let response = try await self.send(request)
        guard let value = extract(response) else {
            throw EngageClientError.unexpected("\(response.type) to \(request.type)")
        }
        return value
    }

    /// For each k >= 1, how many users had exactly k active days in [from, to].
    public func activeDays(
        from: CivilDate,
        to: CivilDate,
        _ selection: Selection = Selection()
    ) async throws -> [ActiveDaysRow] {
        try await self.call(.queryActiveDays(from: from, to: to, selection)) {
            if case .activeDaysResult(let rows) = $0 { return rows } else { return nil }
        }
    }

    /// Tier table of a calendar month or of the rolling window ending on a day.
    public func tiers(_ window: TierWindow, _ selection: Selection = Selection()) async throws -> [TierRow] {
        try await self.call(.queryTiers(window, selection)) {
            if case .tiersResult(let rows) = $0 { return rows } else { return nil }
        }
    }

    /// Monthly tier transitions from `month` to the next.
    public func transitions(_ month: CivilMonth, filters: [DimensionFilter] = []) async throws -> [TransitionRow] {
        try await self.call(.queryTransitions(month, filters: filters)) {
            if case .transitionsResult(let rows) = $0 { return rows } else { return nil }
        }
    }

    /// Cohort retention over `periods` periods after each registration period overlapping [from, to].
    public func retention(
        period: Period,
        from: CivilDate,
        to: CivilDate,
        periods: Int,
        _ selection: Selection = Selection()
    ) async throws -> [RetentionRow] {
        try await self.call(.queryRetention(period: period, from: from, to: to, periods: periods, selection)) {
            if case .retentionResult(let rows) = $0 { return rows } else { return nil }
        }
    }

    /// New, returning, resurrecting and dormant users per period.
    public func lifecycle(
        period: Period,
        from: CivilDate,
        to: CivilDate,
        filters: [DimensionFilter] = []
    ) async throws -> [LifecycleRow] {
        try await self.call(.queryLifecycle(period: period, from: from, to: to, filters: filters)) {
            if case .lifecycleResult(let rows) = $0 { return rows } else { return nil }
        }
    }

    /// Sessions starting in [from, to]: counts, durations, bounce rate.
    public func sessions(from: CivilDate, to: CivilDate, filters: [DimensionFilter] = []) async throws -> SessionSummary
    {
        try await self.call(.querySessions(from: from, to: to, filters: filters)) {
            if case .sessionsResult(let summary) = $0 { return summary } else { return nil }
        }
    }

    /// One user's profile, daily records, sessions and current tier; nil for an unknown user.
    public func user(_ userID: String) async throws -> UserDetail? {
        try await self.call(.queryUser(userID: userID)) {
            if case .userResult(let detail) = $0 { return .some(detail) } else { return nil }
        }
    }

    /// Users that were regular or better a week before `asOf` and inactive since.
    public func atRisk(asOf: CivilDate, limit: Int = 100, filters: [DimensionFilter] = []) async throws -> [AtRiskRow] {
        try await self.call(.queryAtRisk(asOf: asOf, limit: limit, filters: filters)) {
            if case .atRiskResult(let rows) = $0 { return rows } else { return nil }
        }
    }

    /// Events and distinct users per action category and action type.
    public func actionUsage(
        from: CivilDate,
        to: CivilDate,
        filters: [DimensionFilter] = []
    ) async throws -> [ActionUsageRow] {
        try await self.call(.queryActions(from: from, to: to, filters: filters)) {
            if case .actionsResult(let rows) = $0 { return rows } else { return nil }
        }
    }

    /// Streams a star-schema table, one page at a time (the next page is requested only after `body` has
    /// taken the rows of this one, so memory stays bounded however large the table).
    public func export(
        _ table: ExportTable,
        from: CivilDate? = nil,
        to: CivilDate? = nil,
        pageSize: Int = 5000,
        _ body: ([ExportValue]) async throws -> Void
    ) async throws {
        var cursor: [UInt8] = []
        repeat {
            let (rows, next) = try await self.call(.export(table, from: from, to: to, cursor: cursor, limit: pageSize))
            {
                if case .exportPage(let rows, let next) = $0 { return (rows, next) } else { return nil }
            }
            for row in rows { try await body(row) }
            cursor = next
        } while !cursor.isEmpty
    }

    /// Recomputes every derived record from the raw events and reports the differences (changes nothing).
    public func verify(maximumReported: Int = 1000) async throws -> VerificationReport {
        try await self.call(.verify(maximumReported: maximumReported)) {
            if case .verifyResult(let report) = $0 { return report } else { return nil }
        }
    }

    /// Writes a consistent, compacted copy of the server's data directory into `path` on the server's machine
    /// (a new or empty directory); returns its size in bytes. `engaged --data path` starts from it.
    public func backup(to path: String) async throws -> Int {
        try await self.call(.backup(path: path)) {
            if case .backupResult(let bytes) = $0 { return bytes } else { return nil }
        }
    }

    /// The values of `dimension` that at least one user holds, and how many users hold each.
    public func values(_ dimension: EngageModel.Dimension) async throws -> [DimensionValueRow] {
        try await self.call(.queryValues(dimension)) {
            if case .valuesResult(let rows) = $0 { return rows } else { return nil }
        }
    }

    /// Re-derives every derived record from the raw events.
    public func rebuild() async throws {
        try await self.call(.rebuild) { if case .rebuildResult = $0 { return () } else { return nil } }
    }
}
