import EngageModel
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

    /// Events, users or actions: what a client sends and gets acknowledged (and what WAIT_APPLIED waits for).
    var isBatch: Bool {
        switch self {
        case .events, .users, .actions: return true
        case .rebuild, .purge: return false
        }
    }

    var itemCount: Int {
        switch self {
        case .events(let events): return events.count
        case .users(let users): return users.count
        case .actions(let actions): return actions.count
        case .rebuild, .purge: return 1
        }
    }
}

/// Requests waiting for the writer thread, and the back-pressure on their submitters: a submitter waits for
/// room once `capacity` items are queued or being committed, which is how back-pressure reaches the sockets.
/// The writer takes what is queued in groups (``take(maximumItems:timeoutSeconds:)``) and completes each
/// request (``complete(_:with:)``), which frees its room.
final class WriteQueue: @unchecked Sendable {
    struct Pending {
        let request: WriteRequest
        let continuation: CheckedContinuation<BatchResult, any Error>

        /// The room it takes: its items, at least 1.
        var size: Int { max(self.request.itemCount, 1) }
    }

    /// What the writer thread gets from ``take(maximumItems:timeoutSeconds:)``.
    enum Taken {
        /// Requests to apply in one commit (a purge always alone).
        case requests([Pending])
        /// Nothing arrived within the timeout: time for maintenance.
        case idle
        /// The queue is closed and empty: the writer ends.
        case closed
    }

    private struct RoomWaiter {
        let size: Int
        let continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var items: [Pending] = []
        var admitted = 0
        var waiting: [RoomWaiter] = []
        var closed = false

        /// The condition value: 1 while the writer thread has something to do (work, or closing).
        var signal: Int { self.items.isEmpty && !self.closed ? 0 : 1 }
    }

    let capacity: Int
    /// Guards `state`; its value is `state.signal`.
    private let lock = ConditionLock(value: 0)
    private var state = State()

    init(capacity: Int) { self.capacity = capacity }

    static var closedError: StoreError { StoreError(.closed, "the store is shutting down") }

    // MARK: - Submitters (any thread)

    /// Queues `request` once there is room; returns its result when the writer completes it.
    func submit(_ request: WriteRequest) async throws -> BatchResult {
        let size = max(request.itemCount, 1)
        try await self.admit(size)
        return try await withCheckedThrowingContinuation { continuation in
            self.lock.lock()
            if self.state.closed {
                self.lock.unlock(withValue: self.state.signal)
                continuation.resume(throwing: Self.closedError)
                self.release(size)
                return
            }
            self.state.items.append(Pending(request: request, continuation: continuation))
            self.lock.unlock(withValue: 1)
        }
    }

    private func admit(_ size: Int) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            self.lock.lock()
            if self.state.closed {
                self.lock.unlock(withValue: self.state.signal)
                continuation.resume(throwing: Self.closedError)
            } else if self.state.admitted == 0 || self.state.admitted + size <= self.capacity {
                self.state.admitted += size
                self.lock.unlock(withValue: self.state.signal)
                continuation.resume()
            } else {
                self.state.waiting.append(RoomWaiter(size: size, continuation: continuation))
                self.lock.unlock(withValue: self.state.signal)
            }
        }
    }

    private func release(_ size: Int) {
        var admitted: [CheckedContinuation<Void, any Error>] = []
        self.lock.lock()
        self.state.admitted -= size
        while let next = self.state.waiting.first,
            self.state.admitted == 0 || self.state.admitted + next.size <= self.capacity
        {
            self.state.waiting.removeFirst()
            self.state.admitted += next.size
            admitted.append(next.continuation)
        }
        self.lock.unlock(withValue: self.state.signal)
        for continuation in admitted { continuation.resume() }
    }

    /// Refuses new requests and fails those waiting for room; queued requests stay for the writer to
    /// commit. Returns false when it was closed already.
    @discardableResult
    func close() -> Bool {
        self.lock.lock()
        let wasOpen = !self.state.closed
        self.state.closed = true
        let waiting = self.state.waiting
        self.state.waiting = []
        self.lock.unlock(withValue: 1)
        for waiter in waiting { waiter.continuation.resume(throwing: Self.closedError) }
        return wasOpen
    }

    /// Fails every queued request (the writer will not run).
    func failQueued() {
        self.lock.lock()
        let items = self.state.items
        self.state.items = []
        self.lock.unlock(withValue: self.state.signal)
        for pending in items { self.complete(pending, with: .failure(Self.closedError)) }
    }

    // MARK: - The writer thread

    /// Waits up to `timeoutSeconds` for requests and takes those that fit in one commit of `maximumItems`
    /// (at least one request; a purge runs alone, in transactions of its own).
    func take(maximumItems: Int, timeoutSeconds: Double) -> Taken {
        while true {
            guard self.lock.lock(whenValue: 1, timeoutSeconds: timeoutSeconds) else { return .idle }
            if self.state.items.isEmpty {
                let closed = self.state.closed
                self.lock.unlock(withValue: self.state.signal)
                if closed { return .closed }
                continue
            }
            var taken: [Pending] = []
            var items = 0
            while let next = self.state.items.first,
                taken.isEmpty || items + next.request.itemCount <= maximumItems
            {
                if case .purge = next.request, !taken.isEmpty { break }
                if let first = taken.first, case .purge = first.request { break }
                taken.append(next)
                items += next.request.itemCount
                self.state.items.removeFirst()
            }
            self.lock.unlock(withValue: self.state.signal)
            return .requests(taken)
        }
    }

    /// Hands `pending` its outcome and frees its room.
    func complete(_ pending: Pending, with outcome: Result<BatchResult, StoreError>) {
        pending.continuation.resume(with: outcome.mapError { $0 as any Error })
        self.release(pending.size)
    }
}
