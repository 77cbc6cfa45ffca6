import EngageProtocol
import NIOCore

extension EngageConnection {
    /// A round trip to the server.
    public func ping() async throws {
        let nonce = UInt64.random(in: 0...UInt64.max)
        guard try await self.execute(Ping(nonce: nonce)).nonce == nonce else {
            throw EngageClientError.unexpected("PONG with another nonce")
        }
    }

    /// Returns once every write acknowledged before this call (on any connection) is visible to queries;
    /// the result is the sequence number of the last write batch applied. Send it after the last
    /// acknowledgement when what follows must read those writes.
    @discardableResult
    public func waitApplied() async throws -> Int {
        try await self.execute(WaitApplied()).appliedSequence
    }

    /// The commits after `since` and what each rewrote (the change feed), at most `limit` (0: the server's
    /// maximum). Export the units they name with ``export(_:from:to:pageSize:_:)`` (one day: `from` = `to`)
    /// and ``exportUsers(keys:)``.
    public func changes(since: UInt64, limit: Int = 0) async throws -> ChangeFeedPage {
        try await self.execute(Changes(since: since, limit: limit)).page
    }

    /// The `users` rows (EXPORT's columns) of the given user keys that exist, in chunks of the server's limit.
    public func exportUsers(keys: [UInt32]) async throws -> [[ExportValue]] {
        var rows: [[ExportValue]] = []
        var start = 0
        while start < keys.count {
            let chunk = Array(keys[start..<min(start + ExportUsers.maximumKeys, keys.count)])
            rows += try await self.execute(ExportUsers(keys: chunk)).rows
            start += chunk.count
        }
        return rows
    }

    // MARK: - Writes

    /// Defines or updates catalog actions. A changed `is_core_action` re-derives every number that depends
    /// on it before this returns.
    public func defineActions(_ actions: [ActionDefinition]) async throws -> BatchResult {
        try await self.chunked(actions, limit: min(self.maximumBatchItems, Int(UInt16.max))) {
            try await self.execute(DefineActions($0)).result
        }
    }

    /// Creates or updates users (last write wins per attribute); split into batches the server accepts.
    public func upsertUsers(_ users: [UserProfile]) async throws -> BatchResult {
        try await self.chunked(users, limit: self.maximumBatchItems) { try await self.execute(UpsertUsers($0)).result }
    }

    /// Stores events and returns once they are durable; split into batches the server accepts. Rejections
    /// carry positions in `events`. For a stream of events, ``makeEventWriter(batchSize:maximumInFlight:)``
    /// batches and pipelines for you.
    public func ingest(_ events: [Event]) async throws -> BatchResult {
        try await self.chunked(events, limit: self.maximumBatchItems) { try await self.ingestBatch($0) }
    }

    func ingestBatch(_ events: [Event]) async throws -> BatchResult {
        try await self.execute(IngestEvents(IngestBatch(events: events))).result
    }

    /// Sends a batch encoded beforehand and waits until it is durable.
    public func ingest(_ batch: PreparedIngestBatch) async throws -> BatchResult {
        try await self.execute(IngestEvents.self, payload: batch.payload).result
    }

    /// A writer that batches events and keeps up to `maximumInFlight` batches on the wire.
    public func makeEventWriter(batchSize: Int = 5000, maximumInFlight: Int = 4) -> EventWriter {
        EventWriter(
            connection: self,
            batchSize: max(1, min(batchSize, self.maximumBatchItems)),
            maximumInFlight: max(1, min(maximumInFlight, self.server.maximumInFlight))
        )
    }

    // MARK: - Queries

    /// What the server stores: events, users, actions, days, its first and last day.
    public func stats() async throws -> StoreStats {
        try await self.execute(Stats()).stats
    }

    /// Daily DAU, WAU, MAU (and their ratios on each row) over [from, to]; days after the store's last day
    /// have unknown (nil) counts.
    public func activity(_ query: ActivityQuery) async throws -> [ActivityRow] {
        try await self.execute(QueryActivity(query)).rows
    }

    /// For each k >= 1, how many users had exactly k active days in [from, to].
    public func activeDays(
        from: CivilDate,
        to: CivilDate,
        _ selection: Selection = Selection()
    ) async throws -> [ActiveDaysRow] {
        try await self.execute(QueryActiveDays(from: from, to: to, selection)).rows
    }

    /// Tier table of a calendar month or of the rolling window ending on a day.
    public func tiers(_ window: TierWindow, _ selection: Selection = Selection()) async throws -> [TierRow] {
        try await self.execute(QueryTiers(window, selection)).rows
    }

    /// Monthly tier transitions from `month` to the next.
    public func transitions(_ month: CivilMonth, filters: [DimensionFilter] = []) async throws -> [TransitionRow] {
        try await self.execute(QueryTransitions(month, filters: filters)).rows
    }

    /// Cohort retention over `periods` periods after each registration period overlapping [from, to];
    /// offsets whose period ends after the store's last day have an unknown (nil) `retained`.
    public func retention(
        period: Period,
        from: CivilDate,
        to: CivilDate,
        periods: Int,
        _ selection: Selection = Selection()
    ) async throws -> [RetentionRow] {
        try await self.execute(QueryRetention(period: period, from: from, to: to, periods: periods, selection)).rows
    }

    /// New, returning, resurrecting and dormant users per period (unknown for periods that end after the
    /// store's last day).
    public func lifecycle(
        period: Period,
        from: CivilDate,
        to: CivilDate,
        filters: [DimensionFilter] = []
    ) async throws -> [LifecycleRow] {
        try await self.execute(QueryLifecycle(period: period, from: from, to: to, filters: filters)).rows
    }

    /// Sessions starting in [from, to]: counts, durations, bounce rate.
    public func sessions(from: CivilDate, to: CivilDate, filters: [DimensionFilter] = []) async throws -> SessionSummary
    {
        try await self.execute(QuerySessions(from: from, to: to, filters: filters)).summary
    }

    /// One user's profile, daily records, sessions and current tier; nil for an unknown user.
    public func user(_ userID: String) async throws -> UserDetail? {
        try await self.execute(QueryUser(userID: userID)).detail
    }

    /// Users that were regular or better a week before `asOf` and inactive since, most active first.
    public func atRisk(asOf: CivilDate, limit: Int = 100, filters: [DimensionFilter] = []) async throws -> [AtRiskRow] {
        try await self.execute(QueryAtRisk(asOf: asOf, limit: limit, filters: filters)).rows
    }

    /// Events and distinct users per action category and action type.
    public func actionUsage(
        from: CivilDate,
        to: CivilDate,
        filters: [DimensionFilter] = []
    ) async throws -> [ActionUsageRow] {
        try await self.execute(QueryActions(from: from, to: to, filters: filters)).rows
    }

    /// The values of `dimension` that at least one user holds, and how many users hold each.
    public func values(_ dimension: Dimension) async throws -> [DimensionValueRow] {
        try await self.execute(QueryValues(dimension)).rows
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
            let page = try await self.execute(Export(table, from: from, to: to, cursor: cursor, limit: pageSize))
            for row in page.rows { try await body(row) }
            cursor = page.next
        } while !cursor.isEmpty
    }

    // MARK: - Administration

    /// Recomputes every derived record from the raw events and reports the differences (changes nothing).
    public func verify(maximumReported: Int = 1000) async throws -> VerificationReport {
        try await self.execute(Verify(maximumReported: maximumReported)).report
    }

    /// Re-derives every derived record from the raw events.
    public func rebuild() async throws {
        _ = try await self.execute(Rebuild())
    }

    /// Writes a consistent, compacted copy of the server's data directory into `path` on the server's machine
    /// (a new or empty directory); returns its size in bytes. `engaged --data path` starts from it.
    public func backup(to path: String) async throws -> Int {
        try await self.execute(Backup(path: path)).bytes
    }

    /// Sends `items` in requests of at most `limit`, adding up the results (rejections at their positions in
    /// `items`).
    private func chunked<Item: Sendable>(
        _ items: [Item],
        limit: Int,
        _ send: @Sendable ([Item]) async throws -> BatchResult
    ) async throws -> BatchResult {
        var total = BatchResult()
        var start = 0
        repeat {
            let end = min(start + max(limit, 1), items.count)
            let result = try await send(Array(items[start..<end]))
            total.accepted += result.accepted
            total.duplicates += result.duplicates
            total.rejected += result.rejected.map { Rejection(index: $0.index + start, reason: $0.reason) }
            start = end
        } while start < items.count
        return total
    }
}

/// An ingest batch encoded once, ready to send (and to send again, for a retry) without encoding again.
public struct PreparedIngestBatch: Sendable {
    /// The INGEST_EVENTS payload.
    let payload: ByteBuffer
    /// Events in the batch.
    public let eventCount: Int

    /// Encodes `events` as one INGEST_EVENTS payload.
    public init(events: [Event]) {
        var builder = IngestPayloadBuilder(expectedEvents: events.count)
        for event in events { builder.append(event) }
        self.init(&builder)
    }

    /// Takes the batch `builder` holds (and leaves it empty for the next).
    public init(_ builder: inout IngestPayloadBuilder) {
        self.eventCount = builder.eventCount
        self.payload = builder.finish()
    }

    /// Encoded size in bytes.
    public var byteCount: Int { self.payload.readableBytes }
}
