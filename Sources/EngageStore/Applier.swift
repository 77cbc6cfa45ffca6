import CoreMetrics
import EngageModel
import Foundation
import LMDB
import Logging

/// Applies journal records to LMDB: one write transaction for a run of records (every key already assigned,
/// every duplicate already decided), the derived records they change, and the sequence number of the last one,
/// committed together and fully synced. Only the applier thread (and the replay at start-up, before it runs)
/// touches it.
final class Applier {
    let environment: Environment
    let schema: Schema
    let settings: StoreSettings
    let logger: Logger
    let mapGrowth: MapGrowth
    let retention: RawEventRetention
    private(set) var catalog: ActionCatalog
    private(set) var counters: StoreCounters

    // Metrics (Prometheus names): apply-transaction duration and size.
    private let commitDuration = Timer(label: "engage_commit_duration_seconds")
    private let commitItems = Recorder(label: "engage_commit_items", aggregate: true)
    private let commitsFailed = Counter(label: "engage_commits_failed_total")

    init(
        environment: Environment,
        schema: Schema,
        settings: StoreSettings,
        retention: RawEventRetention,
        catalog: ActionCatalog,
        counters: StoreCounters,
        logger: Logger
    ) {
        self.environment = environment
        self.schema = schema
        self.settings = settings
        self.retention = retention
        self.catalog = catalog
        self.counters = counters
        self.logger = logger
        self.mapGrowth = MapGrowth(environment: environment, logger: logger)
    }

    var appliedSequence: UInt64 { self.counters.appliedSequence }

    /// Applies `records` (consecutive sequence numbers after ``appliedSequence``) in one transaction, growing
    /// the map and retrying whenever it fills.
    func apply(_ records: ArraySlice<(sequence: UInt64, record: JournalRecord)>) -> Result<Void, StoreError> {
        guard let last = records.last?.sequence else { return .success(()) }
        precondition(records.first!.sequence == self.counters.appliedSequence + 1, "journal records out of order")
        let started = DispatchTime.now().uptimeNanoseconds
        let outcome = self.growingMap { try self.applyInTransaction(records, last: last) }
        self.commitDuration.recordNanoseconds(Int64(DispatchTime.now().uptimeNanoseconds - started))
        self.commitItems.record(records.reduce(0) { $0 + $1.record.itemCount })
        self.mapGrowth.recordMetrics()
        if case .failure = outcome { self.commitsFailed.increment() }
        return outcome
    }

    private func applyInTransaction(
        _ records: ArraySlice<(sequence: UInt64, record: JournalRecord)>,
        last: UInt64
    ) throws {
        var phases = CommitPhases(enabled: self.logger.logLevel <= .debug)
        let session = WriteSession(
            schema: self.schema,
            settings: self.settings,
            catalog: self.catalog,
            counters: self.counters
        )
        try self.environment.write { txn in
            var mustRebuild = false
            for (_, record) in records {
                switch record {
                case .events(let events):
                    try session.createUsers(events.newUsers, txn)
                    for action in events.newActions { mustRebuild = try session.define(action, txn) || mustRebuild }
                    try session.createContexts(events.newContexts, txn)
                    try session.insert(events.events, txn)
                    session.counters.duplicateCount += UInt64(events.duplicates)
                case .users(let users):
                    try session.createUsers(users.newUsers, txn)
                    for (key, profile) in users.profiles { try session.upsert(key, profile, txn) }
                case .actions(let actions):
                    for definition in actions.definitions {
                        mustRebuild = try session.define(definition, txn) || mustRebuild
                    }
                }
            }
            phases.mark("stage")
            try session.applyDerivedUpdates(txn)
            phases.mark("derive")
            session.counters.appliedSequence = last
            try session.flush(txn)
            try ChangeFeed.record(session.derived.changes, txn, self.schema)
            phases.mark("flush")
            if mustRebuild {
                try DerivedRebuild(schema: self.schema, settings: self.settings, catalog: session.catalog).run(txn)
            }
        }
        phases.mark("commit")
        if session.eventsFoundStored > 0 {
            self.logger.error(
                "events of the journal were already stored; the stored ones were kept",
                metadata: ["events": "\(session.eventsFoundStored)", "through": "\(last)"]
            )
        }
        if phases.enabled {
            var metadata = phases.metadata
            metadata["records"] = "\(records.count)"
            metadata["items"] = "\(records.reduce(0) { $0 + $1.record.itemCount })"
            metadata["through"] = "\(last)"
            self.logger.debug("applied", metadata: metadata)
        }
        self.catalog = session.catalog
        self.counters = session.counters
    }

    /// Recomputes every derived record from the raw events, in its own transaction.
    func rebuild() -> Result<Void, StoreError> {
        self.growingMap {
            try self.environment.write { txn in
                try StoreMeta.requireAllRawEvents(
                    "rebuilding from what is left would lose those days",
                    txn,
                    self.schema
                )
                try DerivedRebuild(schema: self.schema, settings: self.settings, catalog: self.catalog).run(txn)
                // Every derived row may have changed: the feed says so as it does for a catalog change.
                var changes = ChangeSet()
                changes.catalogChanged = true
                try ChangeFeed.record(changes, txn, self.schema)
            }
        }
    }

    /// Drops raw events (and so their dedup keys) of days before the retention horizon, one slice per
    /// transaction, so that applying never waits long behind it.
    func purgeExpiredRawEvents(publish: (StoreCounters) -> Void) {
        guard let horizon = self.retention.horizon(nowMs: Int64(Date().timeIntervalSince1970 * 1000)) else { return }
        do {
            var removed = 0
            var more = true
            while more {
                var counters = self.counters
                let slice = try self.environment.write { txn in
                    try self.retention.dropSlice(before: horizon, counters: &counters, txn, self.schema)
                }
                removed += slice.removed
                more = slice.more
                self.counters = counters
                publish(counters)
            }
            if removed > 0 {
                self.logger.info(
                    "raw events past retention dropped",
                    metadata: ["events": "\(removed)", "before": "\(CivilDate(storeDay: horizon))"]
                )
            }
        } catch {
            self.logger.error("dropping raw events past retention failed: \(error)")
        }
    }

    /// Runs `body` (a write transaction), growing the map and retrying whenever it fills; other failures
    /// become store errors with the right code.
    private func growingMap(_ body: () throws -> Void) -> Result<Void, StoreError> {
        while true {
            do {
                try self.mapGrowth.growIfNeeded(force: false)
                try body()
                return .success(())
            } catch let error as LMDBError where error.isMapFull {
                do {
                    try self.mapGrowth.growIfNeeded(force: true)
                } catch {
                    return .failure(StoreError(.failed, "cannot grow the LMDB map: \(error)"))
                }
            } catch let error as LMDBError
                where error.isDiskFull
                || (error.isIOError && StorageSpace.isExhausted(directory: self.environment.path))
            {
                return .failure(StoreError(.storageFull, "the server's disk is full: \(error)"))
            } catch let error as StoreError {
                return .failure(error)
            } catch {
                return .failure(StoreError(.failed, "\(error)"))
            }
        }
    }
}

/// How long each phase of one transaction took (logged at debug level: `engaged --log-level debug`).
struct CommitPhases {
    let enabled: Bool
    private var last = DispatchTime.now().uptimeNanoseconds
    private(set) var metadata: Logger.Metadata = [:]

    init(enabled: Bool) { self.enabled = enabled }

    /// Ends the phase called `name` (its milliseconds become `<name>_ms`).
    mutating func mark(_ name: String) {
        guard self.enabled else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        self.metadata[name + "_ms"] = "\(String(format: "%.1f", Double(now - self.last) / 1e6))"
        self.last = now
    }
}
