import CoreMetrics
import EngageModel
import Foundation
import LMDB
import Logging
import NIOConcurrencyHelpers

/// A change submitted to the writer.
public enum WriteRequest: Sendable {
    case events([Event])
    case users([UserProfile])
    case actions([ActionDefinition])
    /// Recomputes every derived record from the raw events.
    case rebuild
    /// Drops raw events past the retention horizon now.
    case purge

    var itemCount: Int {
        switch self {
        case .events(let events): return events.count
        case .users(let users): return users.count
        case .actions(let actions): return actions.count
        case .rebuild, .purge: return 1
        }
    }
}

/// The single writer: one thread owns every LMDB write transaction.
///
/// Submitters queue requests; the thread takes everything queued (up to `maxEventsPerCommit`), applies it in
/// one transaction, commits (fsync), then completes every waiting request: group commit. Under load, batches
/// per commit grow by themselves; when idle, a lone batch commits at once. Submitters wait for room once
/// `maxQueuedEvents` are queued, which is how back-pressure reaches the sockets.
final class StoreWriter: @unchecked Sendable {
    // Everything below `state` is touched only by the writer thread, except where noted.
    private let environment: Environment
    private let schema: Schema
    private let settings: StoreSettings
    private let configuration: StoreConfiguration
    private let logger: Logger
    private var catalog: ActionCatalog
    private var counters: StoreCounters
    private let caches: WriterCaches
    /// Published after each commit for readers that need no transaction (stats).
    let published: NIOLockedValueBox<StoreCounters>

    private struct Pending {
        let request: WriteRequest
        let continuation: CheckedContinuation<BatchResult, any Error>
    }

    private struct RoomWaiter {
        let size: Int
        let continuation: CheckedContinuation<Void, any Error>
    }

    private struct QueueState {
        var items: [Pending] = []
        var admitted = 0
        var waiting: [RoomWaiter] = []
        var closed = false

        /// The condition value: 1 while the writer thread has something to do (work, or closing).
        var signal: Int { self.items.isEmpty && !self.closed ? 0 : 1 }
    }

    // Metrics (Prometheus names): commit duration and size, and the LMDB map.
    private let commitDuration = Timer(label: "engage_commit_duration_seconds")
    private let commitItems = Recorder(label: "engage_commit_items", aggregate: true)
    private let commitsFailed = Counter(label: "engage_commits_failed_total")
    private let mapSize = Gauge(label: "engage_lmdb_map_size_bytes")
    private let mapUsed = Gauge(label: "engage_lmdb_used_bytes")

    /// Guards `queue`; its value is 1 when the writer thread has something to do.
    private let wakeUp = ConditionLock(value: 0)
    private var queue = QueueState()
    private var thread: Thread?
    private let finished = ConditionLock(value: 0)

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
        self.environment = environment
        self.schema = schema
        self.settings = settings
        self.configuration = configuration
        self.catalog = catalog
        self.counters = counters
        self.caches = caches
        self.logger = logger
        self.published = NIOLockedValueBox(counters)
    }

    func start() {
        let thread = Thread { [self] in self.run() }
        thread.name = "engage-writer"
        self.thread = thread
        thread.start()
    }

    // MARK: - Raw-event retention

    /// The first local day whose events are kept, or nil without retention.
    func retentionHorizon(nowMs: Int64) -> StoreDay? {
        guard let days = self.configuration.rawRetentionDays else { return nil }
        let today = self.settings.zone.localDay(epochMs: nowMs)
        return today.adding(days: -days).storeDay ?? 0
    }

    /// Drops raw events (and so their dedup keys) of days before the horizon, in slices of bounded size so
    /// that requests never wait long behind it. Derived records are untouched.
    private func purgeExpiredRawEvents() {
        guard let horizon = self.retentionHorizon(nowMs: Int64(Date().timeIntervalSince1970 * 1000)) else { return }
        do {
            var removed = 0
            var more = true
            while more {
                let counters: StoreCounters
                (more, counters) = try self.environment.write { txn -> (Bool, StoreCounters) in
                    var counters = self.counters
                    var count = 0
                    var reachedEnd = true
                    try txn.withCursor(self.schema.events.database) { cursor in
                        var entry = try cursor.first()
                        while let current = entry, try EventKeyCodec.parts(current.key).day < horizon {
                            if count == 50_000 {
                                reachedEnd = false
                                return
                            }
                            try cursor.deleteCurrent()
                            count += 1
                            entry = try cursor.current()
                        }
                    }
                    removed += count
                    if count > 0 {
                        counters.eventCount -= UInt64(count)
                        try StoreMeta.write(counters, txn, self.schema)
                    }
                    if reachedEnd,
                        UInt64(horizon) > (try StoreMeta.number(MetaKey.rawRetainedFrom, txn, self.schema) ?? 0)
                    {
                        try StoreMeta.put(MetaKey.rawRetainedFrom, number: UInt64(horizon), txn, self.schema)
                    }
                    return (!reachedEnd, counters)
                }
                // Committed: the stored-event count follows.
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

    // MARK: - Submitting (any thread)

    func submit(_ request: WriteRequest) async throws -> BatchResult {
        let size = max(request.itemCount, 1)
        try await self.admit(size)
        return try await withCheckedThrowingContinuation { continuation in
            self.wakeUp.lock()
            if self.queue.closed {
                self.wakeUp.unlock()
                continuation.resume(throwing: StoreError(.closed, "the store is shutting down"))
                self.release(size)
                return
            }
            self.queue.items.append(Pending(request: request, continuation: continuation))
            self.wakeUp.unlock(withValue: 1)
        }
    }

    private func admit(_ size: Int) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            self.wakeUp.lock()
            if self.queue.closed {
                self.wakeUp.unlock(withValue: self.queue.signal)
                continuation.resume(throwing: StoreError(.closed, "the store is shutting down"))
            } else if self.queue.admitted == 0 || self.queue.admitted + size <= self.configuration.maxQueuedEvents {
                self.queue.admitted += size
                self.wakeUp.unlock(withValue: self.queue.signal)
                continuation.resume()
            } else {
                self.queue.waiting.append(RoomWaiter(size: size, continuation: continuation))
                self.wakeUp.unlock(withValue: self.queue.signal)
            }
        }
    }

    private func release(_ size: Int) {
        var admitted: [CheckedContinuation<Void, any Error>] = []
        self.wakeUp.lock()
        self.queue.admitted -= size
        while let next = self.queue.waiting.first,
            self.queue.admitted == 0 || self.queue.admitted + next.size <= self.configuration.maxQueuedEvents
        {
            self.queue.waiting.removeFirst()
            self.queue.admitted += next.size
            admitted.append(next.continuation)
        }
        self.wakeUp.unlock(withValue: self.queue.signal)
        for continuation in admitted { continuation.resume() }
    }

    /// Stops taking requests, lets the writer commit what is queued, and waits for it to finish.
    func close() {
        self.wakeUp.lock()
        let alreadyClosed = self.queue.closed
        self.queue.closed = true
        let waiting = self.queue.waiting
        self.queue.waiting = []
        self.wakeUp.unlock(withValue: 1)
        for waiter in waiting {
            waiter.continuation.resume(throwing: StoreError(.closed, "the store is shutting down"))
        }
        guard !alreadyClosed, self.thread != nil else { return }
        self.finished.lock(whenValue: 1)
        self.finished.unlock()
    }

    // MARK: - The writer thread

    private func run() {
        self.purgeExpiredRawEvents()
        while true {
            // Woken by work, or every half minute for maintenance (dropping raw events past retention).
            guard self.wakeUp.lock(whenValue: 1, timeoutSeconds: 30) else {
                self.purgeExpiredRawEvents()
                continue
            }
            if self.queue.items.isEmpty {
                let closed = self.queue.closed
                self.wakeUp.unlock(withValue: self.queue.signal)
                if closed { break }
                continue
            }
            var taken: [Pending] = []
            var events = 0
            while let next = self.queue.items.first,
                taken.isEmpty || events + next.request.itemCount <= self.configuration.maxEventsPerCommit
            {
                // A purge runs alone, in transactions of its own.
                if case .purge = next.request, !taken.isEmpty { break }
                if let first = taken.first, case .purge = first.request { break }
                taken.append(next)
                events += next.request.itemCount
                self.queue.items.removeFirst()
            }
            self.wakeUp.unlock(withValue: self.queue.signal)
            self.commit(taken)
        }
        self.finished.lock()
        self.finished.unlock(withValue: 1)
    }

    private func commit(_ taken: [Pending]) {
        if taken.count == 1, case .purge = taken[0].request {
            self.purgeExpiredRawEvents()
            taken[0].continuation.resume(returning: BatchResult(accepted: 1))
            self.release(1)
            return
        }
        let started = DispatchTime.now().uptimeNanoseconds
        let outcome = self.applyGrowingMap(taken.map(\.request))
        self.commitDuration.recordNanoseconds(Int64(DispatchTime.now().uptimeNanoseconds - started))
        self.commitItems.record(taken.reduce(0) { $0 + $1.request.itemCount })
        let info = self.environment.info
        self.mapSize.record(info.mapSize)
        self.mapUsed.record(info.usedBytes)
        if case .failure = outcome { self.commitsFailed.increment() }
        switch outcome {
        case .success(let results):
            for (pending, result) in zip(taken, results) {
                pending.continuation.resume(returning: result)
                self.release(max(pending.request.itemCount, 1))
            }
        case .failure(let error) where taken.count > 1 && error.code != .storageFull:
            // One bad request must not fail the others: retry them one by one.
            self.logger.warning("group commit failed, retrying its \(taken.count) requests one by one: \(error)")
            for pending in taken { self.commit([pending]) }
        case .failure(let error):
            for pending in taken {
                pending.continuation.resume(throwing: error)
                self.release(max(pending.request.itemCount, 1))
            }
        }
    }

    /// Applies `requests` in one transaction, growing the map and retrying whenever it fills.
    private func applyGrowingMap(_ requests: [WriteRequest]) -> Result<[BatchResult], StoreError> {
        while true {
            do {
                try self.growMapIfNeeded(force: false)
                return .success(try self.apply(requests))
            } catch let error as LMDBError where error.isMapFull {
                do {
                    try self.growMapIfNeeded(force: true)
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
                // A refusal with its own code (raw events dropped, catalog full): not a server failure.
                return .failure(error)
            } catch {
                self.logger.error("write failed: \(error)")
                return .failure(StoreError(.failed, "\(error)"))
            }
        }
    }

    /// Doubles the map when it is three quarters used (or on demand after MDB_MAP_FULL).
    private func growMapIfNeeded(force: Bool) throws {
        let info = self.environment.info
        guard force || info.usedBytes * 4 >= info.mapSize * 3 else { return }
        let newSize = max(info.mapSize * 2, info.usedBytes * 2)
        self.logger.info("growing the LMDB map", metadata: ["from": "\(info.mapSize)", "to": "\(newSize)"])
        try self.environment.setMapSize(newSize)
    }

    static let trace = ProcessInfo.processInfo.environment["ENGAGE_TRACE_COMMITS"] != nil

    private func apply(_ requests: [WriteRequest]) throws -> [BatchResult] {
        let traceStart = DispatchTime.now().uptimeNanoseconds
        var traceMarks: [UInt64] = []
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
                        if let reason = EventValidation.rejection(of: action) {
                            results[index].rejected.append(Rejection(index: position, reason: reason))
                        } else if session.catalog.count >= ActionCatalog.capacity - 1
                            && session.catalog.key(of: Array(action.actionType.utf8)) == nil
                        {
                            results[index].rejected.append(Rejection(index: position, reason: .invalidAction))
                        } else {
                            if try session.define(action, txn) { mustRebuild = true }
                            results[index].accepted += 1
                        }
                    }
                case .users(let users):
                    for (position, profile) in users.enumerated() {
                        if let reason = EventValidation.rejection(of: profile) {
                            results[index].rejected.append(Rejection(index: position, reason: reason))
                        } else {
                            try session.upsert(profile, txn)
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
                case .purge:
                    continue
                case .events:
                    continue
                }
            }
            if Self.trace { traceMarks.append(DispatchTime.now().uptimeNanoseconds) }
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
                horizon: self.retentionHorizon(nowMs: nowMs),
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
            if Self.trace { traceMarks.append(DispatchTime.now().uptimeNanoseconds) }
            try session.applyDerivedUpdates(txn)
            if Self.trace { traceMarks.append(DispatchTime.now().uptimeNanoseconds) }
            try session.flush(txn)
            if Self.trace { traceMarks.append(DispatchTime.now().uptimeNanoseconds) }
            if mustRebuild {
                try DerivedRebuild(schema: self.schema, settings: self.settings, catalog: session.catalog).run(txn)
            }
            return results
        }
        if Self.trace {
            let end = DispatchTime.now().uptimeNanoseconds
            let marks = [traceStart] + traceMarks + [end]
            let phases = zip(marks.dropFirst(), marks).map { String(format: "%.1f", Double($0 - $1) / 1e6) }
            let events = requests.reduce(0) { $0 + $1.itemCount }
            FileHandle.standardError.write(
                Data(
                    "commit requests=\(requests.count) items=\(events) ms[prep,stage,derive,flush,commit]=\(phases.joined(separator: ","))\n"
                        .utf8
                )
            )
        }
        session.publish()
        self.catalog = session.catalog
        self.counters = session.counters
        self.published.withLockedValue { $0 = session.counters }
        return results
    }
}
