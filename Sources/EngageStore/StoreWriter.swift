import CEngageSystem
import EngageModel
import Foundation
import LMDB
import Logging
import NIOConcurrencyHelpers

/// The write path: two threads in a pipeline, so that acknowledging does not wait for applying.
///
/// - The **sequencer** thread takes the queued requests in groups, decides each one (``Sequencer``: validation,
///   duplicates, new keys), appends their records to the ``Journal`` with one write and one `fdatasync`, and
///   acknowledges them: an acknowledged batch is durable from then on. It hands the records to the applier.
/// - The **applier** thread applies what it was handed in transactions as large as the backlog (``Applier``),
///   each storing the sequence it reached, and reports progress; then the sequencer forgets what it kept
///   pending and deletes journal segments that are wholly applied.
///
/// The sequencer stays at most `maxUnappliedEvents` ahead of the applier; beyond that it waits, the queue
/// fills and back-pressure reaches the sockets. Queries read LMDB: they see what is applied, within the
/// visibility lag; ``waitApplied()`` waits for everything acknowledged before it.
final class StoreWriter: @unchecked Sendable {
    let queue: WriteQueue
    private let environment: Environment
    private let configuration: StoreConfiguration
    private let logger: Logger
    // The sequencer thread's (internal for tests that drive it on a store whose threads never started).
    let sequencer: Sequencer
    private let journal: Journal
    // The applier thread's.
    private let applier: Applier
    /// Published after each applied transaction for readers that need no transaction (stats).
    let published: NIOLockedValueBox<StoreCounters>

    /// What the sequencer hands the applier, in order.
    private enum Handoff {
        case record(UInt64, JournalRecord)
        /// A rebuild or purge, carried out in order with the records and completed once committed.
        case control(WriteQueue.Pending)
    }

    private struct ApplyQueue {
        var items: [Handoff] = []
        var closed = false
        var signal: Int { self.items.isEmpty && !self.closed ? 0 : 1 }
    }

    /// Guards `applyQueue`; its value is 1 while the applier has something to do.
    private let handoff = ConditionLock(value: 0)
    private var applyQueue = ApplyQueue()

    private struct Progress {
        /// Sequence of the last record acknowledged and of the last one applied.
        var acknowledged: UInt64
        var applied: UInt64
        var waiters: [(target: UInt64, continuation: CheckedContinuation<UInt64, any Error>)] = []
        /// Set while the applier cannot apply (a full disk): new writes are refused with it.
        var failure: StoreError?
        var closed = false
    }

    private let progress: NIOLockedValueBox<Progress>
    /// 1 once the applier has made progress the sequencer has not looked at (it waits on it when too far ahead).
    private let appliedSignal = ConditionLock(value: 0)

    private enum ThreadState {
        case notStarted, running, cancelled, finished
    }

    private let threadState = NIOLockedValueBox(ThreadState.notStarted)
    /// Counts the threads that ended (a synchronous ``close()`` waits for 2).
    private let finished = ConditionLock(value: 0)

    init(
        environment: Environment,
        configuration: StoreConfiguration,
        sequencer: Sequencer,
        journal: Journal,
        applier: Applier,
        logger: Logger
    ) {
        self.queue = WriteQueue(capacity: configuration.maxQueuedEvents)
        self.environment = environment
        self.configuration = configuration
        self.sequencer = sequencer
        self.journal = journal
        self.applier = applier
        self.logger = logger
        self.published = NIOLockedValueBox(applier.counters)
        self.progress = NIOLockedValueBox(
            Progress(acknowledged: applier.appliedSequence, applied: applier.appliedSequence)
        )
    }

    func submit(_ request: WriteRequest) async throws -> BatchResult {
        try await self.queue.submit(request)
    }

    /// Returns once every batch acknowledged before the call is applied, with the sequence applied.
    func waitApplied() async throws -> UInt64 {
        try await withCheckedThrowingContinuation { continuation in
            let ready: Result<UInt64, StoreError>? = self.progress.withLockedValue { progress in
                if progress.applied >= progress.acknowledged { return .success(progress.applied) }
                if progress.closed { return .failure(WriteQueue.closedError) }
                progress.waiters.append((progress.acknowledged, continuation))
                return nil
            }
            if let ready { continuation.resume(with: ready) }
        }
    }

    // MARK: - Running and closing

    /// Runs both threads until the queue is closed and everything is applied; returns when both have ended,
    /// at once when the writer was closed before it started.
    func run() async {
        let start = self.threadState.withLockedValue { state in
            guard case .notStarted = state else { return false }
            state = .running
            return true
        }
        guard start else { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ended = NIOLockedValueBox(0)
            @Sendable func threadEnded() {
                let count = ended.withLockedValue {
                    $0 += 1
                    return $0
                }
                self.finished.lock()
                self.finished.unlock(withValue: count)
                if count == 2 {
                    self.threadState.withLockedValue { $0 = .finished }
                    continuation.resume()
                }
            }
            let sequencerThread = Thread { [self] in
                self.sequencerLoop()
                threadEnded()
            }
            let applierThread = Thread { [self] in
                self.applierLoop()
                threadEnded()
            }
            applierThread.start()
            sequencerThread.start()
        }
    }

    /// Stops taking requests; what is queued is journaled, acknowledged and applied, then both threads end.
    /// Blocks until they have, when they run; a writer that never started fails what was queued.
    func close() {
        self.queue.close()
        let state = self.threadState.withLockedValue { state in
            if case .notStarted = state { state = .cancelled }
            return state
        }
        switch state {
        case .cancelled: self.queue.failQueued()
        case .running, .finished:
            self.finished.lock(whenValue: 2)
            self.finished.unlock()
        case .notStarted: break
        }
    }

    /// Stops taking requests without waiting (for a task that then awaits ``run()``).
    func stopAccepting() {
        self.queue.close()
    }

    // MARK: - The sequencer thread

    private func sequencerLoop() {
        Self.nameThread("engage-sequence")
        while true {
            self.catchUp()
            // Too far ahead of the applier: wait for it (queued requests wait too: back-pressure).
            while self.sequencer.unappliedEvents >= self.configuration.maxUnappliedEvents {
                if self.appliedSignal.lock(whenValue: 1, timeoutSeconds: 1) { self.appliedSignal.unlock(withValue: 0) }
                self.catchUp()
                if self.progress.withLockedValue({ $0.failure != nil }) { break }
            }
            switch self.queue.take(maximumItems: self.configuration.maxEventsPerCommit, timeoutSeconds: 30) {
            case .idle: continue
            case .closed:
                self.handoff.lock()
                self.applyQueue.closed = true
                self.handoff.unlock(withValue: 1)
                return
            case .requests(let taken): self.sequence(taken)
            }
        }
    }

    /// Lets the sequencer forget what the applier committed, and deletes wholly applied journal segments.
    private func catchUp() {
        let applied = self.progress.withLockedValue { $0.applied }
        self.sequencer.applied(through: applied)
        self.journal.removeSegments(appliedThrough: applied)
    }

    private func sequence(_ taken: [WriteQueue.Pending]) {
        if let failure = self.progress.withLockedValue({ $0.failure }) {
            for pending in taken { self.queue.complete(pending, with: .failure(failure)) }
            return
        }
        let nowMs = Int64(Date().timeIntervalSince1970 * 1000)
        let decided: (decisions: [Sequencer.Decision], undo: Sequencer.Undo)
        do {
            decided = try self.environment.read { txn in
                try self.sequencer.decide(taken.map(\.request), nowMs: nowMs, txn)
            }
        } catch {
            self.logger.error("deciding writes failed: \(error)")
            let failure = (error as? StoreError) ?? StoreError(.failed, "\(error)")
            for pending in taken { self.queue.complete(pending, with: .failure(failure)) }
            return
        }
        var records: [JournalRecord] = []
        for decision in decided.decisions { if case .journal(let record, _) = decision { records.append(record) } }
        var sequence: UInt64 = 0
        if !records.isEmpty {
            do {
                sequence = try self.journal.append(records).lowerBound
            } catch {
                self.sequencer.undo(decided.undo)
                let failure: StoreError
                if let error = error as? JournalWriteError, error.isSpaceExhausted {
                    self.logger.error("disk full: \(error)")
                    failure = StoreError(.storageFull, "the server's disk is full; nothing of this batch was stored")
                } else {
                    self.logger.error("\(error)")
                    failure = StoreError(.failed, "\(error)")
                }
                for pending in taken { self.queue.complete(pending, with: .failure(failure)) }
                return
            }
            self.sequencer.journaled(records, firstSequence: sequence)
        }
        // Durable: hand over to the applier, then acknowledge.
        var handoffs: [Handoff] = []
        var acknowledgements: [(WriteQueue.Pending, BatchResult)] = []
        for (pending, decision) in zip(taken, decided.decisions) {
            switch decision {
            case .journal(let record, let result):
                handoffs.append(.record(sequence, record))
                acknowledgements.append((pending, result))
                sequence += 1
            case .control:
                handoffs.append(.control(pending))
            }
        }
        if !records.isEmpty {
            let last = sequence - 1
            self.progress.withLockedValue { $0.acknowledged = last }
        }
        self.handoff.lock()
        self.applyQueue.items.append(contentsOf: handoffs)
        self.handoff.unlock(withValue: 1)
        for (pending, result) in acknowledgements { self.queue.complete(pending, with: .success(result)) }
    }

    // MARK: - The applier thread

    private func applierLoop() {
        Self.nameThread("engage-apply")
        var lastCommit = DispatchTime.now().uptimeNanoseconds
        if self.configuration.holdsApplierForTesting {
            // Nothing is applied; the journal keeps every acknowledged write for the next start.
            self.handoff.lock(whenValue: 1)
            while !self.applyQueue.closed {
                self.handoff.unlock()
                Thread.sleep(forTimeInterval: 0.01)
                self.handoff.lock()
            }
            self.handoff.unlock()
            self.progress.withLockedValue { $0.closed = true }
            return
        }
        self.applier.purgeExpiredRawEvents(publish: self.publish)
        while true {
            // Woken by records, or every half minute for maintenance (dropping raw events past retention).
            guard self.handoff.lock(whenValue: 1, timeoutSeconds: 30) else {
                self.applier.purgeExpiredRawEvents(publish: self.publish)
                continue
            }
            if self.applyQueue.items.isEmpty {
                let closed = self.applyQueue.closed
                self.handoff.unlock(withValue: self.applyQueue.signal)
                if closed { break }
                continue
            }
            // A small backlog waits for the rest of the interval (unless the store is closing).
            let sinceCommit = DispatchTime.now().uptimeNanoseconds - lastCommit
            let interval = UInt64(self.configuration.applyIntervalMs) * 1_000_000
            if sinceCommit < interval, !self.applyQueue.closed,
                self.applyQueue.items.count < 64,
                Self.events(in: self.applyQueue.items) < self.configuration.maxEventsPerCommit / 4
            {
                self.handoff.unlock(withValue: self.applyQueue.signal)
                Thread.sleep(forTimeInterval: Double(interval - sinceCommit) / 1e9)
                continue
            }
            // Everything waiting, up to a transaction's worth: records, or one control item alone.
            var items: [Handoff] = []
            var events = 0
            while let next = self.applyQueue.items.first {
                if case .control = next {
                    if items.isEmpty {
                        items.append(next)
                        self.applyQueue.items.removeFirst()
                    }
                    break
                }
                guard case .record(_, let record) = next else { break }
                if !items.isEmpty && events + record.itemCount > self.configuration.maxEventsPerCommit { break }
                items.append(next)
                events += record.itemCount
                self.applyQueue.items.removeFirst()
            }
            self.handoff.unlock(withValue: self.applyQueue.signal)
            lastCommit = DispatchTime.now().uptimeNanoseconds
            if !self.apply(items) {
                // Not applied (a full disk): keep the items first in line and try again shortly. The journal
                // holds them, so a restart applies them too.
                self.handoff.lock()
                self.applyQueue.items.insert(contentsOf: items, at: 0)
                let closed = self.applyQueue.closed
                self.handoff.unlock(withValue: self.applyQueue.signal)
                if closed {
                    self.logger.error("stopping with journaled records not applied; the next start applies them")
                    break
                }
                Thread.sleep(forTimeInterval: 1)
            }
        }
        self.progress.withLockedValue { progress in
            progress.closed = true
            for waiter in progress.waiters {
                waiter.continuation.resume(throwing: WriteQueue.closedError)
            }
            progress.waiters = []
        }
    }

    private static func events(in items: [Handoff]) -> Int {
        items.reduce(0) { total, item in
            if case .record(_, let record) = item { return total + record.itemCount }
            return total
        }
    }

    /// Applies `items`; false when they could not be (they stay to be tried again).
    private func apply(_ items: [Handoff]) -> Bool {
        if case .control(let pending) = items.first {
            switch pending.request {
            case .rebuild:
                let outcome = self.applier.rebuild()
                self.queue.complete(pending, with: outcome.map { BatchResult(accepted: 1) })
            default:
                self.applier.purgeExpiredRawEvents(publish: self.publish)
                self.queue.complete(pending, with: .success(BatchResult(accepted: 1)))
            }
            return true
        }
        let records = items.compactMap { item -> (sequence: UInt64, record: JournalRecord)? in
            if case .record(let sequence, let record) = item { return (sequence, record) }
            return nil
        }
        switch self.applier.apply(records[...]) {
        case .success:
            self.publish(self.applier.counters)
            let ready = self.progress.withLockedValue { progress in
                progress.applied = self.applier.appliedSequence
                progress.failure = nil
                let ready = progress.waiters.filter { $0.target <= progress.applied }
                progress.waiters.removeAll { $0.target <= progress.applied }
                return (ready, progress.applied)
            }
            for waiter in ready.0 { waiter.continuation.resume(returning: ready.1) }
            self.appliedSignal.lock()
            self.appliedSignal.unlock(withValue: 1)
            return true
        case .failure(let error):
            self.logger.error("applying journaled writes failed; retrying: \(error)")
            self.progress.withLockedValue { $0.failure = error }
            return false
        }
    }

    /// Names the calling thread as `top` and `perf` show it.
    private static func nameThread(_ name: String) { engage_set_thread_name(name) }

    private func publish(_ counters: StoreCounters) {
        self.published.withLockedValue { $0 = counters }
    }
}
