import Synchronization

/// Permits that tasks wait for without blocking a thread: bytes of requests a server buffers, requests a
/// client keeps in flight. A request larger than the whole budget is let through alone.
public final class AsyncSemaphore: Sendable {
    private struct State {
        var available: Int
        var waiters: [(count: Int, continuation: CheckedContinuation<Void, Never>)] = []
    }

    private let capacity: Int
    private let state: Mutex<State>

    public init(permits: Int) {
        self.capacity = permits
        self.state = Mutex(State(available: permits))
    }

    public func acquire(_ count: Int = 1) async {
        let wanted = min(count, self.capacity)
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let admitted = self.state.withLock { state -> Bool in
                if state.waiters.isEmpty && state.available >= wanted {
                    state.available -= wanted
                    return true
                }
                state.waiters.append((wanted, continuation))
                return false
            }
            if admitted { continuation.resume() }
        }
    }

    public func release(_ count: Int = 1) {
        let returned = min(count, self.capacity)
        let ready = self.state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.available += returned
            var ready: [CheckedContinuation<Void, Never>] = []
            while let first = state.waiters.first, first.count <= state.available {
                state.available -= first.count
                ready.append(first.continuation)
                state.waiters.removeFirst()
            }
            return ready
        }
        for continuation in ready { continuation.resume() }
    }

    /// Permits not taken (for tests and metrics).
    public var available: Int { self.state.withLock { $0.available } }
}
