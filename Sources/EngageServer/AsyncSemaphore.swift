import NIOConcurrencyHelpers

/// Permits that tasks wait for without blocking a thread: requests in flight per connection, and bytes of
/// requests buffered across the server. A request larger than the whole budget is let through alone.
final class AsyncSemaphore: Sendable {
    private struct State {
        var available: Int
        var waiters: [(count: Int, continuation: CheckedContinuation<Void, Never>)] = []
    }

    private let capacity: Int
    private let state: NIOLockedValueBox<State>

    init(permits: Int) {
        self.capacity = permits
        self.state = NIOLockedValueBox(State(available: permits))
    }

    func acquire(_ count: Int = 1) async {
        let wanted = min(count, self.capacity)
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let admitted = self.state.withLockedValue { state -> Bool in
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

    func release(_ count: Int = 1) {
        let returned = min(count, self.capacity)
        let ready = self.state.withLockedValue { state -> [CheckedContinuation<Void, Never>] in
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
    var available: Int { self.state.withLockedValue { $0.available } }
}
