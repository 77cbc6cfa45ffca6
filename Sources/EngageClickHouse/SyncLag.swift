/// How far ClickHouse is behind one engaged node, in commits and in seconds.
///
/// The node's commits carry no timestamps, so the age of a commit is measured from when the sync first saw
/// it: the node's `current` sequence is observed often (every window, and by a sampler between windows), and
/// each newly seen sequence is remembered with the time it was seen. The lag in seconds is the age of the
/// oldest remembered sequence that ClickHouse does not hold yet; 0 once it holds everything seen.
/// A value type without clocks of its own, so that tests give it the times.
struct SyncLag: Sendable {
    private(set) var current: UInt64 = 0
    private(set) var synced: UInt64 = 0
    /// Sequences first seen above the previous `current`, with when; ascending, all above `synced`.
    private var seen: [(sequence: UInt64, at: ContinuousClock.Instant)] = []

    /// The node reported `current` at `now`.
    mutating func observe(current: UInt64, at now: ContinuousClock.Instant) {
        guard current > self.current else { return }
        self.current = current
        self.seen.append((current, now))
    }

    /// ClickHouse now holds everything up to `sequence`.
    mutating func synced(upTo sequence: UInt64) {
        self.synced = max(self.synced, sequence)
        self.seen.removeAll { $0.sequence <= self.synced }
    }

    /// Commits the node has applied and ClickHouse does not hold yet.
    var behind: UInt64 { self.current > self.synced ? self.current - self.synced : 0 }

    /// Seconds since the oldest commit ClickHouse does not hold was first seen.
    func seconds(at now: ContinuousClock.Instant) -> Double {
        guard let oldest = self.seen.first else { return 0 }
        return (now - oldest.at).inSeconds
    }
}

extension Duration {
    /// The duration as a number of seconds (for gauges and reports).
    var inSeconds: Double { Double(self.components.seconds) + Double(self.components.attoseconds) / 1e18 }
}
