import EngageModel
import Foundation
import LMDB
import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle

/// The engagement model on LMDB: raw events plus every derived record, maintained on write.
///
/// Writes (``ingest(_:)``, ``upsertUsers(_:)``, ``defineActions(_:)``) go to the single writer thread and
/// return once their transaction is durably committed. Queries are synchronous and run in their own
/// read-only transaction on the caller's thread: call them from a thread pool, not an event loop.
public final class EngageStore: Service, Sendable {
    public let configuration: StoreConfiguration
    let environment: Environment
    /// Held until ``close()``: one process per data directory.
    private let lock: DataDirectoryLock
    /// Held on a journal directory of its own (``JournalLocation``), like ``lock``.
    private let journalLock: DataDirectoryLock?
    let schema: Schema
    let settings: StoreSettings
    let writer: StoreWriter
    let logger: Logger

    /// The data directory's reporting time zone (IANA name).
    public var timeZone: String { self.settings.zone.identifier }
    public var sessionGapMs: Int64 { self.settings.sessionGapMs }
    public var powerThreshold: Int { self.settings.powerThreshold }

    /// Opens or creates the data directory and rebuilds the event-id filter; writes wait for ``run()``.
    ///
    /// Takes the directory's ``DataDirectoryLock`` before LMDB opens anything: a second process on the same
    /// directory fails with ``StoreError/Code-swift.struct/directoryInUse`` and changes nothing. Settings are
    /// checked before the directory is created, so a typo creates nothing on disk.
    public init(configuration: StoreConfiguration, logger: Logger = Logger(label: "engage.store")) throws {
        try configuration.validate()
        let directory = configuration.path
        let journalLocation = JournalLocation(configured: configuration.journalDirectory, dataDirectory: directory)
        if !FileManager.default.fileExists(atPath: directory + "/data.mdb") {
            // A new data directory cannot own a journal yet: refused before anything is created.
            try journalLocation.refuseForNewDataDirectory(dataDirectory: directory)
        }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), !isDirectory.boolValue {
            throw StoreError(.cannotOpen, "\(directory) is a file, not a data directory")
        }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw StoreError(
                .cannotOpen,
                "cannot create the data directory \(directory): \(error.localizedDescription)"
            )
        }
        let lock = try DataDirectoryLock(directory: directory)
        var options = Environment.Options(
            mapSize: configuration.initialMapSize,
            maxDatabases: Schema.databaseCount + 2,
            unsafeNoSync: configuration.unsafeNoSync
        )
        let dataFile = directory + "/data.mdb"
        if let size = (try? FileManager.default.attributesOfItem(atPath: dataFile))?[.size] as? Int {
            // An existing file larger than the requested map needs a map at least as large.
            options.mapSize = max(options.mapSize, size * 2)
        }
        let environment: Environment
        do {
            environment = try Environment(path: directory, options: options)
        } catch {
            throw StoreError(.cannotOpen, "cannot open the data directory \(directory): \(error)")
        }
        let schema = try Schema(environment: environment)
        let (settings, catalog, counters, recordedJournal) = try environment.write { txn in
            let settings = try StoreMeta.settle(configuration, txn, schema)
            return (
                settings, try StoreMeta.readCatalog(txn, schema), try StoreMeta.readCounters(txn, schema),
                try StoreMeta.journalBinding(txn, schema)
            )
        }
        // The journal holds every acknowledged write not applied yet: never start without it, nor with another's.
        let journalPlan = try journalLocation.prepare(
            dataDirectory: directory,
            recorded: recordedJournal,
            appliedSequence: counters.appliedSequence,
            journalLost: configuration.journalLost
        )
        try journalLocation.claim(
            dataDirectory: directory,
            token: journalPlan.binding.token,
            sync: !configuration.unsafeNoSync
        )
        if journalPlan.changed {
            try environment.write { txn in try StoreMeta.write(journalPlan.binding, txn, schema) }
        }
        if let previous = journalPlan.previous {
            // Everything in the old place is applied (checked above): its files are no longer needed.
            JournalLocation.release(previous, dataDirectory: directory)
            logger.notice(
                "journal moved",
                metadata: [
                    "from": "\(previous.directory)", "to": "\(journalLocation.directory(dataDirectory: directory))",
                ]
            )
        }
        let retention = RawEventRetention(days: configuration.rawRetentionDays, zone: settings.zone)
        let applier = Applier(
            environment: environment,
            schema: schema,
            settings: settings,
            retention: retention,
            catalog: catalog,
            counters: counters,
            logger: logger
        )
        // Acknowledged writes the store had not applied when it stopped: apply them before anything else.
        let (journal, replay) = try Journal.open(
            directory: journalLocation.directory(dataDirectory: directory),
            appliedSequence: counters.appliedSequence,
            sync: !configuration.unsafeNoSync,
            logger: logger
        )
        if !replay.isEmpty {
            let started = Date()
            var start = replay.startIndex
            while start < replay.endIndex {
                var end = start
                var items = 0
                while end < replay.endIndex
                    && (end == start || items + replay[end].record.itemCount <= configuration.maxEventsPerCommit)
                {
                    items += replay[end].record.itemCount
                    end += 1
                }
                if case .failure(let error) = applier.apply(replay[start..<end]) {
                    throw StoreError(error.code, "cannot apply the journal: \(error.message)")
                }
                start = end
            }
            logger.info(
                "journal replayed",
                metadata: [
                    "records": "\(replay.count)", "through": "\(applier.appliedSequence)",
                    "seconds": "\(String(format: "%.2f", Date().timeIntervalSince(started)))",
                ]
            )
        }
        let filter = EventIDFilter(bytes: configuration.eventFilterBytes)
        let started = Date()
        try environment.read { txn in
            try txn.forEach(schema.events.database, prefix: []) { entry in
                // Only the keys, read in place: start-up goes over every stored event.
                let key = try EventKeyCodec.parts(entry.key)
                filter.insert(user: key.user, eventID: key.eventID)
                return true
            }
        }
        if filter.insertions > 0 {
            logger.info(
                "event-id filter rebuilt",
                metadata: [
                    "events": "\(filter.insertions)",
                    "seconds": "\(String(format: "%.2f", Date().timeIntervalSince(started)))",
                    "filter_bytes": "\(filter.sizeInBytes)",
                ]
            )
        }
        self.configuration = configuration
        self.lock = lock
        self.journalLock = journalPlan.lock
        self.environment = environment
        self.schema = schema
        self.settings = settings
        self.logger = logger
        self.writer = StoreWriter(
            environment: environment,
            configuration: configuration,
            sequencer: Sequencer(
                schema: schema,
                settings: settings,
                retention: retention,
                catalog: applier.catalog,
                counters: applier.counters,
                filter: filter,
                userCacheLimit: configuration.userCacheEntries
            ),
            journal: journal,
            applier: applier,
            logger: logger
        )
    }

    /// Runs the writer (a thread that owns every write transaction) until the task is cancelled or its
    /// service group shuts down gracefully; then commits what is queued and returns. Writes submitted
    /// before `run()` wait for it. A store is a `Service` (swift-service-lifecycle): list it before the
    /// services that write to it, so that it stops after them.
    public func run() async throws {
        await withTaskCancellationOrGracefulShutdownHandler {
            await self.writer.run()
        } onCancelOrGracefulShutdown: {
            self.writer.stopAccepting()
        }
        self.journalLock?.release()
        self.lock.release()
    }

    /// Stops the writer: commits what is queued (waiting for it) and makes ``run()`` return; a store that
    /// never ran fails what was queued. Further writes fail with ``StoreError/Code-swift.struct/closed``.
    public func close() {
        self.writer.close()
        self.journalLock?.release()
        self.lock.release()
    }

    // MARK: - Writes

    /// Stores a batch of events; returns once the batch is durable. Events are validated one by one: a bad
    /// event is rejected alone, with its index and reason.
    public func ingest(_ events: [Event]) async throws -> BatchResult {
        try await self.writer.submit(.events(events))
    }

    /// Creates or updates users (last write wins per attribute).
    public func upsertUsers(_ users: [UserProfile]) async throws -> BatchResult {
        try await self.writer.submit(.users(users))
    }

    /// Defines or updates catalog actions. A changed `is_core_action` re-derives every affected record in
    /// the same transaction, before this returns.
    public func defineActions(_ actions: [ActionDefinition]) async throws -> BatchResult {
        try await self.writer.submit(.actions(actions))
    }

    /// Returns once every write acknowledged before the call is visible to queries, with the sequence number
    /// of the last write batch applied. (Writes are acknowledged once journaled, and applied within the
    /// visibility lag: see README, "Durability and visibility".)
    public func waitApplied() async throws -> Int {
        Int(try await self.writer.waitApplied())
    }

    /// Recomputes every derived record from the raw events.
    public func rebuildDerivedRecords() async throws {
        _ = try await self.writer.submit(.rebuild)
    }

    /// Drops raw events older than the retention horizon now (the writer also does it every 30 s).
    public func purgeExpiredRawEvents() async throws {
        _ = try await self.writer.submit(.purge)
    }

    // MARK: - Reads

    public func stats() throws -> StoreStats {
        let counters = self.writer.published.withLockedValue { $0 }
        let fileSize =
            (try? FileManager.default.attributesOfItem(atPath: self.configuration.path + "/data.mdb"))?[.size] as? Int
        return try self.environment.read { txn in
            var firstDay: CivilDate?
            var lastDay: CivilDate?
            firstDay = try self.schema.dayTotals.firstKey(txn).map(CivilDate.init(storeDay:))
            lastDay = try self.schema.dayTotals.lastKey(txn).map(CivilDate.init(storeDay:))
            return StoreStats(
                events: Int(counters.eventCount),
                duplicates: Int(counters.duplicateCount),
                users: Int(counters.nextUserKey) - 1,
                actions: try self.schema.actions.count(txn),
                days: try self.schema.dayTotals.count(txn),
                bytesOnDisk: fileSize ?? self.environment.info.usedBytes,
                timeZone: self.settings.zone.identifier,
                firstDay: firstDay,
                lastDay: lastDay
            )
        }
    }

    /// The values of `dimension` that at least one user holds (for `cohort`: registration months), with how
    /// many users hold each, ordered by value.
    public func dimensionValues(_ dimension: EngageModel.Dimension) throws -> [DimensionValueRow] {
        try self.read { txn, reader in try reader.dimensionValues(dimension, txn) }
    }

    /// Runs `body` in a read-only transaction with a ``StoreReader``.
    func read<Result>(_ body: (borrowing Transaction, StoreReader) throws -> Result) throws -> Result {
        try self.environment.read { txn in
            try body(txn, StoreReader(schema: self.schema, settings: self.settings))
        }
    }
}

extension EngageStore {
    /// Writes a consistent, compacted copy of the data directory into `path` (created; it must not hold a
    /// data file already). Runs in a read transaction, so writes go on meanwhile; the copy is the store as of
    /// that transaction, and `engaged --data path` starts from it. Returns the copy's size in bytes.
    ///
    /// The target is locked while the copy is written, so no server can start on a half-written copy, and a
    /// directory another process holds (this store's own included) is refused.
    ///
    /// Every write acknowledged before the call is in the copy (it waits for them to be applied first).
    public func backup(to path: String) async throws -> Int {
        _ = try await self.waitApplied()
        // The copy blocks for as long as it takes: on a thread of its own, not the caller's task.
        return try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try self.copy(to: path) }) }.start()
        }
    }

    private func copy(to path: String) throws -> Int {
        let manager = FileManager.default
        if manager.fileExists(atPath: path + "/data.mdb") {
            throw StoreError(
                .backupFailed,
                "\(path) already holds a data directory; back up into a new or empty directory"
            )
        }
        do {
            try manager.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw StoreError(.backupFailed, "cannot create \(path): \(error.localizedDescription)")
        }
        let lock: DataDirectoryLock
        do {
            lock = try DataDirectoryLock(directory: path)
        } catch {
            throw StoreError(.backupFailed, "cannot back up into \(path): \(error.message)")
        }
        defer { lock.release() }
        do {
            try self.environment.copy(to: path, compact: true)
            // The copy has no journal (everything acknowledged before the backup is applied in it): it must not
            // take this store's journal directory for its own. Opened with room to write, whatever its size.
            let size = (try? manager.attributesOfItem(atPath: path + "/data.mdb"))?[.size] as? Int ?? 0
            let copy = try Environment(
                path: path,
                options: .init(mapSize: max(1 << 30, size * 2), maxDatabases: Schema.databaseCount + 2)
            )
            let meta = try copy.openDatabase("meta")
            try copy.write { txn in try StoreMeta.forgetJournal(txn, meta) }
        } catch {
            // Nothing half-made stays behind to be started.
            try? manager.removeItem(atPath: path + "/data.mdb")
            try? manager.removeItem(atPath: path + "/lock.mdb")
            if (error as? LMDBError)?.isDiskFull == true {
                throw StoreError(.backupFailed, "backup into \(path) failed: the disk is full")
            }
            throw StoreError(.backupFailed, "backup into \(path) failed: \(error)")
        }
        return (try? manager.attributesOfItem(atPath: path + "/data.mdb"))?[.size] as? Int ?? 0
    }
}
