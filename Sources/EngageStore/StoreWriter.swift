import CoreMetrics
import EngageModel
import Foundation
import LMDB
import Logging
import NIOConcurrencyHelpers

/// The single writer: one thread owns every LMDB write transaction.
///
/// The thread takes everything queued (up to `maxEventsPerCommit`), applies it in one transaction, commits
/// (fsync), then completes every waiting request: group commit. Under load, batches per commit grow by
/// themselves; when idle, a lone batch commits at once. When idle for 30 s it drops raw events past
/// retention. The thread starts in ``run()`` and ends once the queue is closed and drained.
final class StoreWriter: @unchecked Sendable {
    let queue: WriteQueue
    // Everything below is touched only by the writer thread, except where noted.
    private let environment: Environment
    private let schema: Schema
    private let settings: StoreSettings
    private let configuration: StoreConfiguration
    private let logger: Logger
    private let retention: RawEventRetention
    private let mapGrowth: MapGrowth
    private var catalog: ActionCatalog
    private var counters: StoreCounters
    private let caches: WriterCaches
    /// Published after each commit for readers that need no transaction (stats).
    let published: NIOLockedValueBox<StoreCounters>

    private enum ThreadState {
        case notStarted
        case running
        /// Closed before it ever ran: it never will.
        case cancelled
        case finished
    }

    private let threadState = NIOLockedValueBox(ThreadState.notStarted)
    /// 1 once the thread has ended (what a synchronous ``close()`` waits for).
    private let finished = ConditionLock(value: 0)

    // Metrics (Prometheus names): commit duration and size.
    private let commitDuration = Timer(label: "engage_commit_duration_seconds")
    private let commitItems = Recorder(label: "engage_commit_items", aggregate: true)
    private let commitsFailed = Counter(label: "engage_commits_failed_total")

    init(
        environment: Environment,
        schema: Schema,
        settings: StoreSettings,
        configuration: StoreConfiguration,
        catalog: ActionCatalog,
        counters: StoreCounters,
        caches: WriterCaches,
        logger: Logger
    ) {
        self.queue = WriteQueue(capacity: configuration.maxQueuedEvents)
        self.environment = environment
        self.schema = schema
        self.settings = settings
        self.configuration = configuration
        self.retention = RawEventRetention(days: configuration.rawRetentionDays, zone: settings.zone)
        self.mapGrowth = MapGrowth(environment: environment, logger: logger)
        self.catalog = catalog
        self.counters = counters
        self.caches = caches
        self.logger = logger
        self.published = NIOLockedValueBox(counters)
    }

    func submit(_ request: WriteRequest) async throws -> BatchResult {
        try await self.queue.submit(request)
    }

    // MARK: - Running and closing

    /// Runs the writer thread until the queue is closed and drained; returns when the thread has ended.
    /// Returns at once when the writer was closed before it started.
    func run() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let start = self.threadState.withLockedValue { state in
                guard case .notStarted = state else { return false }
                state = .running
                return true
            }
            guard start else {
                continuation.resume()
                return
            }
            let thread = Thread { [self] in
                self.loop()
                self.threadState.withLockedValue { $0 = .finished }
                self.finished.lock()
                self.finished.unlock(withValue: 1)
                continuation.resume()
            }
            thread.name = "engage-writer"
            thread.start()
        }
    }

    /// Stops taking requests; the writer commits what is queued and ends (``run()`` returns). Blocks until
    /// it has, when it is running; a writer that never started fails what was queued.
    func close() {
        self.queue.close()
        let state = self.threadState.withLockedValue { state in
            if case .notStarted = state { state = .cancelled }
            return state
        }
        switch state {
        case .cancelled: self.queue.failQueued()
        case .running, .finished:
            self.finished.lock(whenValue: 1)
            self.finished.unlock()
        case .notStarted: break
        }
    }

    /// Stops taking requests without waiting (for a task that then awaits ``run()``).
    func stopAccepting() {
        self.queue.close()
    }

    // MARK: - The writer thread

    private func loop() {
        self.purgeExpiredRawEvents()
        while true {
            // Woken by work, or every half minute for maintenance (dropping raw events past retention).
            switch self.queue.take(maximumItems: self.configuration.maxEventsPerCommit, timeoutSeconds: 30) {
            case .idle: self.purgeExpiredRawEvents()
            case .closed: return
            case .requests(let taken): self.commit(taken)
            }
        }
    }

    /// Drops raw events (and so their dedup keys) of days before the retention horizon, one slice per
    /// transaction.
    private func purgeExpiredRawEvents() {
        guard let horizon = self.retention.horizon(nowMs: Int64(Date().timeIntervalSince1970 * 1000)) else { return }
        do {
            var removed = 0
            var more = true
            while more {
                var counters = self.counters
                let slice = try self.environment.write { txn in
                    try self.retention.dropSlice(before: horizon, counters: &counters, txn, self.schema)
                }
                // Committed: the stored-event count follows.
                removed += slice.removed
                more = slice.more
                self.counters = counters
                self.published.withLockedValue { $0 = counters }
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

    private func commit(_ taken: [WriteQueue.Pending]) {
        if taken.count == 1, case .purge = taken[0].request {
            self.purgeExpiredRawEvents()
            self.queue.complete(taken[0], with: .success(BatchResult(accepted: 1)))
            return
        }
        let started = DispatchTime.now().uptimeNanoseconds
        let outcome = self.applyGrowingMap(taken.map(\.request))
        self.commitDuration.recordNanoseconds(Int64(DispatchTime.now().uptimeNanoseconds - started))
        self.commitItems.record(taken.reduce(0) { $0 + $1.request.itemCount })
        self.mapGrowth.recordMetrics()
        if case .failure = outcome { self.commitsFailed.increment() }
        switch outcome {
        case .success(let results):
            for (pending, result) in zip(taken, results) { self.queue.complete(pending, with: .success(result)) }
        case .failure(let error) where taken.count > 1 && error.code != .storageFull:
            // One bad request must not fail the others: retry them one by one.
            self.logger.warning("group commit failed, retrying its \(taken.count) requests one by one: \(error)")
            for pending in taken { self.commit([pending]) }
        case .failure(let error):
            for pending in taken { self.queue.complete(pending, with: .failure(error)) }
        }
    }

    /// Applies `requests` in one transaction, growing the map and retrying whenever it fills.
    private func applyGrowingMap(_ requests: [WriteRequest]) -> Result<[BatchResult], StoreError> {
        while true {
            do {
                try self.mapGrowth.growIfNeeded(force: false)
                return .success(try self.apply(requests))
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
                self.logger.error("disk full: \(error)")
                return .failure(StoreError(.storageFull, "the server's disk is full; nothing of this batch was stored"))
            } catch let error as StoreError {
                // A refusal with its own code (raw events dropped): not a server failure.
                return .failure(error)
            } catch {
                self.logger.error("write failed: \(error)")
                return .failure(StoreError(.failed, "\(error)"))
            }
        }
    }

    private func apply(_ requests: [WriteRequest]) throws -> [BatchResult] {
        var phases = CommitPhases(enabled: self.logger.logLevel <= .debug)
        let nowMs = Int64(Date().timeIntervalSince1970 * 1000)
        let session = WriteSession(
            schema: self.schema,
            settings: self.settings,
            catalog: self.catalog,
            counters: self.counters,
            caches: self.caches
        )
        let results = try self.environment.write { txn in
            var results = Array(repeating: BatchResult(), count: requests.count)
            var mustRebuild = false
            // Catalog and users first: the end state does not depend on the order within one commit.
            for (index, request) in requests.enumerated() {
                switch request {
                case .actions(let actions):
                    for (position, action) in actions.enumerated() {
                        switch try session.define(action, txn) {
                        case .rejected(let reason):
                            results[index].rejected.append(Rejection(index: position, reason: reason))
                        case .stored(let coreChanged):
                            mustRebuild = mustRebuild || coreChanged
                            results[index].accepted += 1
                        }
                    }
                case .users(let users):
                    for (position, profile) in users.enumerated() {
                        if let reason = try session.upsert(profile, txn) {
                            results[index].rejected.append(Rejection(index: position, reason: reason))
                        } else {
                            results[index].accepted += 1
                        }
                    }
                case .rebuild:
                    try StoreMeta.requireAllRawEvents(
                        "rebuilding from what is left would lose those days",
                        txn,
                        self.schema
                    )
                    mustRebuild = true
                    results[index].accepted = 1
                case .purge, .events:
                    continue
                }
            }
            phases.mark("prepare")
            var eventRequests: [Int] = []
            var eventBatches: [[Event]] = []
            for (index, request) in requests.enumerated() {
                guard case .events(let events) = request else { continue }
                eventRequests.append(index)
                eventBatches.append(events)
            }
            let outcomes = try session.stage(
                eventBatches,
                nowMs: nowMs,
                horizon: self.retention.horizon(nowMs: nowMs),
                txn
            )
            for (slot, index) in eventRequests.enumerated() {
                for (position, outcome) in outcomes[slot].enumerated() {
                    switch outcome {
                    case .accepted: results[index].accepted += 1
                    case .duplicate: results[index].duplicates += 1
                    case .rejected(let reason):
                        results[index].rejected.append(Rejection(index: position, reason: reason))
                    }
                }
            }
            phases.mark("stage")
            try session.applyDerivedUpdates(txn)
            phases.mark("derive")
            // Each write batch gets the next sequence number (written with the counters by the flush).
            session.counters.appliedSequence += UInt64(requests.count { $0.isBatch })
            try session.flush(txn)
            phases.mark("flush")
            if mustRebuild {
                try DerivedRebuild(schema: self.schema, settings: self.settings, catalog: session.catalog).run(txn)
            }
            return results
        }
        phases.mark("commit")
        if phases.enabled {
            var metadata = phases.metadata
            metadata["requests"] = "\(requests.count)"
            metadata["items"] = "\(requests.reduce(0) { $0 + $1.itemCount })"
            self.logger.debug("commit", metadata: metadata)
        }
        session.publish()
        self.catalog = session.catalog
        self.counters = session.counters
        self.published.withLockedValue { $0 = session.counters }
        return results
    }
}

/// How long each phase of one commit took (logged at debug level: `engaged --log-level debug`).
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
