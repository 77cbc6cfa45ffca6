import EngageModel

/// How to open a data directory.
public struct StoreConfiguration: Sendable {
    /// The data directory (created if missing).
    public var path: String
    /// The reporting time zone. Fixed when the directory is created; opening it with another is refused.
    /// nil: whatever the directory records (UTC for a new one).
    public var timeZone: String?
    /// Session gap in milliseconds (default 30 minutes). Fixed at creation, like the time zone.
    public var sessionGapMs: Int64?
    /// Power-tier threshold P (default 20).
    public var powerThreshold: Int?
    /// `is_core_action` of action types first seen in events (default true).
    public var autoRegisteredActionsAreCore: Bool?
    /// Heap bytes of the event-id filter (see ``EventIDFilter``).
    public var eventFilterBytes: Int
    /// Most user ids kept in the writer's lookup cache.
    public var userCacheEntries: Int
    /// The initial LMDB map size; it grows by itself before it fills.
    public var initialMapSize: Int
    /// Skips fsync: only for throw-away stores in tests and benchmarks. Acknowledged events may be lost.
    public var unsafeNoSync: Bool
    /// Most events applied in one commit; the rest wait for the next.
    public var maxEventsPerCommit: Int
    /// Events queued for the writer beyond which submitters wait (back-pressure).
    public var maxQueuedEvents: Int
    /// Events acknowledged (journaled) but not yet applied beyond which the sequencer waits for the applier:
    /// bounds the visibility lag and the memory of what is pending.
    public var maxUnappliedEvents: Int
    /// The applier commits at most this often (milliseconds) while its backlog is small: fewer, larger
    /// transactions, and fewer disk syncs competing with the journal's; a backlog of `maxEventsPerCommit`
    /// events is applied at once. Bounds the visibility lag from below.
    public var applyIntervalMs = 50
    /// The journal's directory; nil: `DATA/journal`. Another device than the data directory's keeps the journal's
    /// syncs (what an acknowledgement waits for) from waiting for LMDB's. The data directory records where its
    /// journal is: a start elsewhere is refused while the old place holds writes not applied yet.
    public var journalDirectory: String?
    /// Start although the recorded journal place no longer holds this store's journal (a lost device):
    /// acknowledged writes that were only there are lost.
    public var journalLost = false
    /// For tests of recovery: the applier applies nothing, so that acknowledged writes exist only in the
    /// journal (until a start without it replays them). Never set it in production.
    public var holdsApplierForTesting = false
    /// Keep raw events (and their dedup keys) for this many days before today; older ones are dropped and
    /// refused (`older_than_retention`). Derived records are kept whole. nil: keep everything.
    public var rawRetentionDays: Int?

    public static let defaultSessionGapMs: Int64 = 30 * 60 * 1000
    public static let defaultPowerThreshold = 20
    /// A session gap must stay under a day for the per-day session bookkeeping to hold.
    public static let sessionGapRange: ClosedRange<Int64> = 1...(12 * 3_600_000)

    public init(
        path: String,
        timeZone: String? = nil,
        sessionGapMs: Int64? = nil,
        powerThreshold: Int? = nil,
        autoRegisteredActionsAreCore: Bool? = nil,
        eventFilterBytes: Int = 64 << 20,
        userCacheEntries: Int = 500_000,
        initialMapSize: Int = 1 << 30,
        unsafeNoSync: Bool = false,
        maxEventsPerCommit: Int = 200_000,
        maxQueuedEvents: Int = 1_000_000,
        maxUnappliedEvents: Int = 250_000,
        rawRetentionDays: Int? = nil
    ) {
        self.path = path
        self.timeZone = timeZone
        self.sessionGapMs = sessionGapMs
        self.powerThreshold = powerThreshold
        self.autoRegisteredActionsAreCore = autoRegisteredActionsAreCore
        self.eventFilterBytes = eventFilterBytes
        self.userCacheEntries = userCacheEntries
        self.initialMapSize = initialMapSize
        self.unsafeNoSync = unsafeNoSync
        self.maxEventsPerCommit = maxEventsPerCommit
        self.maxQueuedEvents = maxQueuedEvents
        self.maxUnappliedEvents = maxUnappliedEvents
        self.rawRetentionDays = rawRetentionDays
    }
}

extension StoreConfiguration {
    /// Checks the settings' domains (time zone name, session gap, threshold) before anything touches the disk.
    public func validate() throws(StoreError) {
        if let timeZone {
            do {
                _ = try ReportingTimeZone(identifier: timeZone)
            } catch {
                throw StoreError(.cannotOpen, "\(error)")
            }
        }
        if let sessionGapMs, !Self.sessionGapRange.contains(sessionGapMs) {
            throw StoreError(.cannotOpen, "the session gap must be between 1 ms and 12 hours, not \(sessionGapMs) ms")
        }
        if let powerThreshold, powerThreshold < 1 {
            throw StoreError(.cannotOpen, "the power threshold must be at least 1, not \(powerThreshold)")
        }
    }
}

/// Settings recorded in a data directory.
struct StoreSettings: Sendable, Equatable {
    /// Random, fixed when the directory is created (see ``MetaKey/storeID``).
    var storeID: UInt64
    var zone: ReportingTimeZone
    var sessionGapMs: Int64
    var powerThreshold: Int
    var autoRegisteredActionsAreCore: Bool
}
