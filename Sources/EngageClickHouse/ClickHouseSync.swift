import CoreMetrics
import EngageClient
import EngageModel
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore

/// How `engage clickhouse sync` (and `engaged --clickhouse-url`) keeps ClickHouse equal to one engaged node.
public struct ClickHouseSyncConfiguration: Sendable {
    public var clickhouse: ClickHouseConfiguration
    /// This engaged node's number in the deployment (0 for a single node): the `node_id` of its rows and
    /// of its checkpoint. Two nodes must never share one.
    public var nodeID: UInt16
    /// Most changes of the feed taken into one window (one version, one checkpoint).
    public var changesPerWindow: Int
    /// Rows per INSERT.
    public var batchRows: Int
    /// Continuous mode: how long to wait when caught up before asking the feed again.
    public var pollInterval: Duration
    /// How often continuous mode asks the node for its latest commit, for the lag metrics.
    public var lagSampleInterval: Duration = .milliseconds(250)

    public init(
        clickhouse: ClickHouseConfiguration,
        nodeID: UInt16 = 0,
        changesPerWindow: Int = 10_000,
        batchRows: Int = 200_000,
        pollInterval: Duration = .milliseconds(500)
    ) {
        self.clickhouse = clickhouse
        self.nodeID = nodeID
        self.changesPerWindow = changesPerWindow
        self.batchRows = batchRows
        self.pollInterval = pollInterval
    }
}

/// What one window of the sync wrote.
public struct SyncWindow: Sendable, CustomStringConvertible {
    /// The version written (the window's highest sequence) and the checkpoint it was under.
    public var version: UInt64
    public var previousCheckpoint: UInt64
    /// Changes of the feed in the window; 0 for a full export.
    public var changes: Int
    /// Everything exported again (first sync, a checkpoint older than the feed, or asked for).
    public var full: Bool
    public var catalogChanged: Bool
    public var users = 0
    public var dailyRows = 0
    public var sessionRows = 0
    public var sessionDays = 0
    public var eventRows = 0
    public var seconds = 0.0
    /// Seconds spent on the daily rows alone (export, encoding and INSERTs).
    public var dailySeconds = 0.0

    public var rows: Int { self.users + self.dailyRows + self.sessionRows + self.eventRows }

    public var description: String {
        let kind = self.full ? "full export" : "\(self.changes) change(s)"
        return
            "version \(self.version) (\(kind)\(self.catalogChanged ? ", catalog" : "")): \(self.users) users, \(self.dailyRows) daily rows, "
            + "\(self.sessionRows) sessions over \(self.sessionDays) day(s), \(self.eventRows) events in "
            + String(format: "%.3f s", self.seconds)
    }
}

/// Keeps ClickHouse equal to one engaged node by following its change feed (clickhouse/README.md "Sync").
///
/// Each window: read the checkpoint (the smallest over the shards), take the changes after it, export the
/// units they rewrote and write them idempotently with the window's highest sequence as the version
/// (upserts into ReplacingMergeTree tables; sessions by partition replace of (node, day)), then insert the
/// checkpoint on every shard. A crash anywhere before the checkpoint makes the next run send the same units
/// again, with a version at least as high: nothing is lost, and FINAL never counts anything twice.
public final class ClickHouseSync: Sendable {
    public let configuration: ClickHouseSyncConfiguration
    let source: EngageConnection
    let target: ClickHouseTarget
    let logger: Logger
    let lagSequences: Gauge
    let lagSeconds: Gauge
    let syncedSequence: Gauge
    let rowsWritten: Counter
    let windows: Counter

    public init(
        source: EngageConnection,
        target: ClickHouseTarget,
        configuration: ClickHouseSyncConfiguration,
        logger: Logger = Logger(label: "engage.clickhouse.sync")
    ) {
        self.source = source
        self.target = target
        self.configuration = configuration
        self.logger = logger
        let dimensions = [("node", String(configuration.nodeID))]
        self.lagSequences = Gauge(label: "engage_clickhouse_sync_lag_sequences", dimensions: dimensions)
        self.lagSeconds = Gauge(label: "engage_clickhouse_sync_lag_seconds", dimensions: dimensions)
        self.syncedSequence = Gauge(label: "engage_clickhouse_synced_sequence", dimensions: dimensions)
        self.rowsWritten = Counter(label: "engage_clickhouse_sync_rows_total", dimensions: dimensions)
        self.windows = Counter(label: "engage_clickhouse_sync_windows_total", dimensions: dimensions)
    }

    var node: UInt16 { self.configuration.nodeID }

    // MARK: - Checkpoint

    /// The node's synced sequence: the smallest checkpoint over the shards (0 when a shard has none).
    public func checkpoint() async throws -> UInt64 {
        var smallest = UInt64.max
        for shard in self.target.shards {
            let text = try await shard.value(
                "SELECT max(version) FROM (SELECT node_id, version FROM \(self.target.database).sync_checkpoint FINAL) "
                    + "WHERE node_id = \(self.node)"
            )
            smallest = min(smallest, UInt64(text ?? "0") ?? 0)
        }
        return smallest == .max ? 0 : smallest
    }

    func writeCheckpoint(_ version: UInt64) async throws {
        let statement =
            "INSERT INTO \(self.target.database).sync_checkpoint (node_id, version, synced_at) VALUES "
            + "(\(self.node), \(version), now())"
        try await self.onEveryShard { try await $0.execute(statement) }
    }

    // MARK: - Running

    /// Syncs until ClickHouse holds every change the node had applied when this call began; returns the
    /// windows written. `full` exports everything again first (same result as a first sync).
    public func syncOnce(full: Bool = false) async throws -> [SyncWindow] {
        try await self.target.createSchema()
        var windows: [SyncWindow] = []
        var goal: UInt64?
        var forceFull = full
        while true {
            let (window, applied) = try await self.step(forceFull: forceFull)
            if goal == nil { goal = applied }
            guard let window else { break }
            forceFull = false
            windows.append(window)
            if window.version >= goal! { break }
        }
        return windows
    }

    /// Runs windows until the task is cancelled; when caught up, waits `pollInterval` before asking again.
    /// Lag metrics (``SyncLag``): commits applied by the node and not yet in ClickHouse, and the seconds since
    /// the oldest of them was first seen; a sampler asks the node for its latest commit every `lagSampleInterval`
    /// so that both move while a long window is written.
    public func run() async throws {
        try await self.target.createSchema()
        let lag = NIOLockedValueBox(SyncLag())
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                while !Task.isCancelled {
                    // The feed's head only: `since` the latest known commit, at most one change.
                    let known = lag.withLockedValue { $0.current }
                    if let page = try? await self.source.changes(since: known, limit: 1) {
                        lag.withLockedValue { $0.observe(current: page.current, at: ContinuousClock.now) }
                    }
                    self.recordLag(lag)
                    try await Task.sleep(for: self.configuration.lagSampleInterval)
                }
            }
            while !Task.isCancelled {
                let (window, _) = try await self.step(
                    forceFull: false,
                    onFeed: { current, synced in
                        lag.withLockedValue {
                            $0.observe(current: current, at: ContinuousClock.now)
                            $0.synced(upTo: synced)
                        }
                        self.recordLag(lag)
                    }
                )
                if let window {
                    self.logger.info("synced \(window)")
                } else {
                    try await Task.sleep(for: self.configuration.pollInterval)
                }
            }
            group.cancelAll()
        }
    }

    private func recordLag(_ lag: NIOLockedValueBox<SyncLag>) {
        let (behind, seconds) = lag.withLockedValue { ($0.behind, $0.seconds(at: ContinuousClock.now)) }
        self.lagSequences.record(Int64(clamping: behind))
        self.lagSeconds.record(seconds)
    }

    /// One window (nil when there was nothing to sync), and the node's applied sequence before it.
    /// `onFeed(current, synced)` is called with the node's latest commit and what ClickHouse holds, before and
    /// after the window.
    func step(
        forceFull: Bool,
        onFeed: (_ current: UInt64, _ synced: UInt64) -> Void = { _, _ in }
    ) async throws -> (SyncWindow?, UInt64) {
        let checkpoint = try await self.checkpoint()
        let page = try await self.source.changes(since: checkpoint, limit: self.configuration.changesPerWindow)
        self.syncedSequence.record(Int64(clamping: checkpoint))
        if checkpoint > page.current {
            throw ClickHouseError(
                .sync,
                "ClickHouse holds node \(self.node) up to sequence \(checkpoint), but the engaged node has applied only "
                    + "\(page.current): another store (or an older backup) than the one synced before. Sync it as a "
                    + "new node id, or drop the node's rows first (clickhouse/README.md \"Operations\")"
            )
        }
        onFeed(page.current, checkpoint)
        guard page.current > 0 else { return (nil, 0) }
        let started = ContinuousClock.now
        var window: SyncWindow
        if forceFull || checkpoint == 0 || checkpoint + 1 < page.oldest {
            if checkpoint != 0 && !forceFull {
                self.logger.warning(
                    "node \(self.node): checkpoint \(checkpoint) is older than the feed (oldest \(page.oldest)): exporting everything"
                )
            }
            window = try await self.writeFull(version: page.current, checkpoint: checkpoint)
        } else {
            guard let last = page.changes.last else { return (nil, page.current) }
            window = try await self.writeChanges(page.changes, version: last.sequence, checkpoint: checkpoint)
        }
        try await self.writeCheckpoint(window.version)
        window.seconds = Self.seconds(since: started)
        self.syncedSequence.record(Int64(clamping: window.version))
        self.rowsWritten.increment(by: Int64(window.rows))
        self.windows.increment()
        onFeed(page.current, window.version)
        return (window, page.current)
    }

    // MARK: - Windows

    func writeFull(version: UInt64, checkpoint: UInt64) async throws -> SyncWindow {
        var window = SyncWindow(
            version: version,
            previousCheckpoint: checkpoint,
            changes: 0,
            full: true,
            catalogChanged: true
        )
        let stats = try await self.source.stats()
        try await self.writeDimensions(catalog: true, days: nil, version: version)
        window.users = try await self.copy(.users, into: RowBinaryTable.users, version: version)
        guard let first = stats.firstDay, let last = stats.lastDay else { return window }
        let days = Array(DaySequence(first...last))
        let dailyStarted = ContinuousClock.now
        window.dailyRows = try await self.copyDays(.dailyActivity, RowBinaryTable.dailyActivity, days, version: version)
        window.dailySeconds = Self.seconds(since: dailyStarted)
        window.eventRows = try await self.copyDays(.events, RowBinaryTable.events, days, version: version)
        window.sessionRows = try await self.replaceSessions(days: days, version: version)
        window.sessionDays = days.count
        return window
    }

    func writeChanges(_ changes: [StoreChange], version: UInt64, checkpoint: UInt64) async throws -> SyncWindow {
        var daily = Set<CivilDate>()
        var sessions = Set<CivilDate>()
        var events = Set<CivilDate>()
        var users = Set<UInt32>()
        var catalog = false
        for change in changes {
            daily.formUnion(change.dailyDays)
            sessions.formUnion(change.sessionDays)
            events.formUnion(change.eventDays)
            users.formUnion(change.userKeys)
            catalog = catalog || change.catalogChanged
        }
        var window = SyncWindow(
            version: version,
            previousCheckpoint: checkpoint,
            changes: changes.count,
            full: false,
            catalogChanged: catalog
        )
        let stats = catalog ? try await self.source.stats() : nil
        if let first = stats?.firstDay, let last = stats?.lastDay {
            // Every day's daily rows (is_active_day, tiers) and sessions (session_type) may have changed.
            daily.formUnion(DaySequence(first...last))
            sessions.formUnion(DaySequence(first...last))
        }
        try await self.writeDimensions(catalog: catalog, days: daily.union(sessions).union(events), version: version)
        if !users.isEmpty {
            window.users = try await self.copyUsers(users.sorted(), version: version)
        }
        let dailyStarted = ContinuousClock.now
        window.dailyRows = try await self.copyDays(
            .dailyActivity,
            RowBinaryTable.dailyActivity,
            daily.sorted(),
            version: version
        )
        window.dailySeconds = Self.seconds(since: dailyStarted)
        window.eventRows = try await self.copyDays(.events, RowBinaryTable.events, events.sorted(), version: version)
        window.sessionRows = try await self.replaceSessions(days: sessions.sorted(), version: version)
        window.sessionDays = sessions.count
        return window
    }

    /// dim_actions (when the catalog changed) and dim_date (of `days`; every day when nil), complete on every
    /// shard: written into each shard's own table.
    func writeDimensions(catalog: Bool, days: Set<CivilDate>?, version: UInt64) async throws {
        var buffers: [(RowBinaryTable, ByteBuffer)] = []
        if catalog {
            var buffer = ByteBuffer()
            try await self.forEachPage(.actions, from: nil, to: nil) { rows in
                for row in rows {
                    try RowBinaryTable.actions.encode(row, node: self.node, version: version, into: &buffer)
                }
            }
            buffers.append((RowBinaryTable.actions, buffer))
        }
        if days == nil || !(days?.isEmpty ?? true) {
            var buffer = ByteBuffer()
            try await self.forEachPage(.dates, from: days?.min(), to: days?.max()) { rows in
                for row in rows {
                    try RowBinaryTable.dates.encode(row, node: self.node, version: version, into: &buffer)
                }
            }
            buffers.append((RowBinaryTable.dates, buffer))
        }
        for (table, buffer) in buffers where buffer.readableBytes > 0 {
            let statement = table.insertStatement(into: "\(self.target.database).\(table.table)")
            try await self.onEveryShard { try await $0.insert(statement, data: buffer) }
        }
    }

    /// A whole undated export (users) upserted through the entry table.
    func copy(_ table: ExportTable, into spec: RowBinaryTable, version: UInt64) async throws -> Int {
        var writer = BatchWriter(target: self.target, spec: spec, limit: self.configuration.batchRows)
        try await self.forEachPage(table, from: nil, to: nil) { rows in
            for row in rows { try await writer.append(row, node: self.node, version: version) }
        }
        return try await writer.finish()
    }

    func copyUsers(_ keys: [UInt32], version: UInt64) async throws -> Int {
        var writer = BatchWriter(target: self.target, spec: RowBinaryTable.users, limit: self.configuration.batchRows)
        var start = 0
        while start < keys.count {
            let end = min(start + 10_000, keys.count)
            for row in try await self.source.exportUsers(keys: Array(keys[start..<end])) {
                try await writer.append(row, node: self.node, version: version)
            }
            start = end
        }
        return try await writer.finish()
    }

    /// The rows of `days` (exported as runs of consecutive days) upserted through the entry table.
    func copyDays(
        _ table: ExportTable,
        _ spec: RowBinaryTable,
        _ days: [CivilDate],
        version: UInt64
    ) async throws
        -> Int
    {
        var writer = BatchWriter(target: self.target, spec: spec, limit: self.configuration.batchRows)
        for run in Self.runs(days) {
            try await self.forEachPage(table, from: run.lowerBound, to: run.upperBound) { rows in
                for row in rows { try await writer.append(row, node: self.node, version: version) }
            }
        }
        return try await writer.finish()
    }

    /// The node's sessions of `days`: staged, then each (node, day) partition replaced on every shard
    /// (an empty staging partition empties the day: sessions that a late event merged away disappear).
    func replaceSessions(days: [CivilDate], version: UInt64) async throws -> Int {
        guard !days.isEmpty else { return 0 }
        let database = self.target.database
        let staging = self.target.local("fact_user_sessions_staging")
        let sessions = self.target.local("fact_user_sessions")
        let partitions = days.map { "(\(self.node), '\($0.description)')" }
        try await self.onEveryShard { shard in
            for partition in partitions {
                try await shard.execute("ALTER TABLE \(staging) DROP PARTITION \(partition)")
            }
        }
        var writer = BatchWriter(
            target: self.target,
            spec: RowBinaryTable.sessions,
            limit: self.configuration.batchRows,
            entryTable: "\(database).fact_user_sessions_staging"
        )
        for run in Self.runs(days) {
            try await self.forEachPage(.sessions, from: run.lowerBound, to: run.upperBound) { rows in
                for row in rows { try await writer.append(row, node: self.node, version: version) }
            }
        }
        let count = try await writer.finish()
        try await self.onEveryShard { shard in
            for partition in partitions {
                try await shard.execute("ALTER TABLE \(sessions) REPLACE PARTITION \(partition) FROM \(staging)")
            }
            for partition in partitions {
                try await shard.execute("ALTER TABLE \(staging) DROP PARTITION \(partition)")
            }
        }
        return count
    }

    // MARK: - Pieces

    /// Every page of an export; the next page is asked for while `body` handles this one.
    func forEachPage(
        _ table: ExportTable,
        from: CivilDate?,
        to: CivilDate?,
        _ body: ([[ExportValue]]) async throws -> Void
    ) async throws {
        let source = self.source
        var pending = Task { try await source.exportPage(table, from: from, to: to) }
        while true {
            let page = try await pending.value
            let next = page.nextCursor
            if !next.isEmpty {
                pending = Task { try await source.exportPage(table, from: from, to: to, cursor: next) }
            }
            do {
                try await body(page.rows)
            } catch {
                if !next.isEmpty { pending.cancel() }
                throw error
            }
            if next.isEmpty { return }
        }
    }

    func onEveryShard(_ body: @escaping @Sendable (ClickHouseHTTP) async throws -> Void) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for shard in self.target.shards { group.addTask { try await body(shard) } }
            try await group.waitForAll()
        }
    }

    static func seconds(since start: ContinuousClock.Instant) -> Double {
        (ContinuousClock.now - start).inSeconds
    }

    /// Consecutive days grouped into ranges.
    static func runs(_ days: [CivilDate]) -> [ClosedRange<CivilDate>] {
        var runs: [ClosedRange<CivilDate>] = []
        for day in days.sorted() {
            if let last = runs.last, last.upperBound.adding(days: 1) == day {
                runs[runs.count - 1] = last.lowerBound...day
            } else if runs.last?.contains(day) != true {
                runs.append(day...day)
            }
        }
        return runs
    }
}

/// The days of a range, in order.
struct DaySequence: Sequence {
    let range: ClosedRange<CivilDate>
    init(_ range: ClosedRange<CivilDate>) { self.range = range }

    func makeIterator() -> AnyIterator<CivilDate> {
        var next = self.range.lowerBound
        let last = self.range.upperBound
        var done = false
        return AnyIterator {
            guard !done else { return nil }
            let day = next
            if day == last { done = true } else { next = day.adding(days: 1) }
            return day
        }
    }
}

/// Rows encoded into RowBinary and sent in INSERTs of at most `limit` rows through the entry table (the
/// Distributed table on a cluster, with insert_distributed_sync = 1: every row is on its shard when the
/// INSERT returns). One INSERT runs while the next batch is filled.
struct BatchWriter {
    let target: ClickHouseTarget
    let spec: RowBinaryTable
    let limit: Int
    let statement: String
    var buffer = ByteBuffer()
    var rowsInBuffer = 0
    var total = 0
    var inFlight: Task<Void, any Error>?

    init(target: ClickHouseTarget, spec: RowBinaryTable, limit: Int, entryTable: String? = nil) {
        self.target = target
        self.spec = spec
        self.limit = max(1, limit)
        self.statement = spec.insertStatement(into: entryTable ?? target.entryTable(spec.table))
    }

    mutating func append(_ row: [ExportValue], node: UInt16, version: UInt64) async throws {
        try self.spec.encode(row, node: node, version: version, into: &self.buffer)
        self.rowsInBuffer += 1
        if self.rowsInBuffer >= self.limit { try await self.send() }
    }

    mutating func send() async throws {
        if let inFlight { try await inFlight.value }
        self.inFlight = nil
        guard self.rowsInBuffer > 0 else { return }
        let data = self.buffer
        let statement = self.statement
        let entry = self.target.entry
        let settings = self.target.isCluster ? ["insert_distributed_sync": "1"] : [:]
        self.total += self.rowsInBuffer
        self.buffer = ByteBuffer()
        self.rowsInBuffer = 0
        self.inFlight = Task { try await entry.insert(statement, data: data, settings: settings) }
    }

    /// Sends what is left and waits for every INSERT; returns the rows written.
    mutating func finish() async throws -> Int {
        try await self.send()
        if let inFlight { try await inFlight.value }
        self.inFlight = nil
        return self.total
    }
}
