import EngageModel
import LMDB

/// Reads and writes the `meta` database: settings fixed at creation and the store's counters.
enum StoreMeta {
    static let currentSchemaVersion: UInt64 = 1

    static func string(_ name: String, _ txn: borrowing Transaction, _ schema: Schema) throws -> String? {
        try schema.meta.get(Array(name.utf8), txn).map { String(decoding: $0, as: UTF8.self) }
    }

    static func number(_ name: String, _ txn: borrowing Transaction, _ schema: Schema) throws -> UInt64? {
        guard let raw = try schema.meta.get(Array(name.utf8), txn) else { return nil }
        return try raw.withUnsafeBytes { bytes throws(CorruptRecord) in
            var reader = ByteReader(bytes)
            return try reader.u64()
        }
    }

    static func put(_ name: String, string: String, _ txn: borrowing Transaction, _ schema: Schema) throws {
        try schema.meta.put(Array(name.utf8), Array(string.utf8), txn)
    }

    static func put(_ name: String, number: UInt64, _ txn: borrowing Transaction, _ schema: Schema) throws {
        var writer = ByteWriter(capacity: 8)
        writer.u64(number)
        try schema.meta.put(Array(name.utf8), writer.bytes, txn)
    }

    /// Refuses work that needs every raw event (`purpose`, e.g. "verify needs every raw event") once
    /// raw-event retention has dropped some.
    static func requireAllRawEvents(_ purpose: String, _ txn: borrowing Transaction, _ schema: Schema) throws {
        guard let horizon = try self.number(MetaKey.rawRetainedFrom, txn, schema) else { return }
        throw StoreError(
            .rawEventsDropped,
            "raw events before \(CivilDate(storeDay: StoreDay(horizon))) were dropped by raw-event retention; \(purpose)"
        )
    }

    static func readCounters(_ txn: borrowing Transaction, _ schema: Schema) throws -> StoreCounters {
        var counters = StoreCounters()
        counters.nextUserKey = UInt32(try self.number(MetaKey.nextUserKey, txn, schema) ?? 1)
        counters.nextContextID = UInt32(try self.number(MetaKey.nextContextID, txn, schema) ?? 1)
        counters.nextAttributeValueID = UInt32(try self.number(MetaKey.nextAttributeValueID, txn, schema) ?? 1)
        counters.eventCount = try self.number(MetaKey.eventCount, txn, schema) ?? 0
        counters.duplicateCount = try self.number(MetaKey.duplicateCount, txn, schema) ?? 0
        counters.appliedSequence = try self.number(MetaKey.appliedSequence, txn, schema) ?? 0
        counters.lastDay = try schema.dayTotals.lastKey(txn)
        return counters
    }

    static func write(_ counters: StoreCounters, _ txn: borrowing Transaction, _ schema: Schema) throws {
        try self.put(MetaKey.nextUserKey, number: UInt64(counters.nextUserKey), txn, schema)
        try self.put(MetaKey.nextContextID, number: UInt64(counters.nextContextID), txn, schema)
        try self.put(MetaKey.nextAttributeValueID, number: UInt64(counters.nextAttributeValueID), txn, schema)
        try self.put(MetaKey.eventCount, number: counters.eventCount, txn, schema)
        try self.put(MetaKey.duplicateCount, number: counters.duplicateCount, txn, schema)
        try self.put(MetaKey.appliedSequence, number: counters.appliedSequence, txn, schema)
    }

    /// Where the journal is, and the token of its directory; nil when not recorded (a data directory made
    /// before it was, or a backup's copy).
    static func journalBinding(_ txn: borrowing Transaction, _ schema: Schema) throws -> JournalLocation.Binding? {
        guard let place = try self.string(MetaKey.journalDirectory, txn, schema),
            let token = try self.number(MetaKey.journalToken, txn, schema)
        else { return nil }
        return JournalLocation.Binding(place: JournalLocation(recorded: place), token: token)
    }

    static func write(_ binding: JournalLocation.Binding, _ txn: borrowing Transaction, _ schema: Schema) throws {
        try self.put(MetaKey.journalDirectory, string: binding.place.recorded, txn, schema)
        try self.put(MetaKey.journalToken, number: binding.token, txn, schema)
    }

    /// Forgets the journal binding (in a backup's copy, which has no journal).
    static func forgetJournal(_ txn: borrowing Transaction, _ meta: Database) throws {
        _ = try txn.delete(meta, key: Array(MetaKey.journalDirectory.utf8))
        _ = try txn.delete(meta, key: Array(MetaKey.journalToken.utf8))
    }

    static func readCatalog(_ txn: borrowing Transaction, _ schema: Schema) throws -> ActionCatalog {
        var catalog = ActionCatalog()
        try schema.actions.forEach(txn) { key, record in
            catalog.set(key, record)
            return true
        }
        return catalog
    }

    /// Records the settings of a new data directory, or checks an existing one against the configuration.
    static func settle(
        _ configuration: StoreConfiguration,
        _ txn: borrowing Transaction,
        _ schema: Schema
    ) throws -> StoreSettings {
        if let version = try self.number(MetaKey.schemaVersion, txn, schema) {
            guard version == self.currentSchemaVersion else {
                throw StoreError(
                    .cannotOpen,
                    "\(configuration.path) has data format \(version); this engaged reads format \(self.currentSchemaVersion)"
                )
            }
            let zoneName = try self.string(MetaKey.timeZone, txn, schema) ?? "UTC"
            if let requested = configuration.timeZone, requested != zoneName {
                throw StoreError(
                    .cannotOpen,
                    "\(configuration.path) was created with reporting time zone \(zoneName); "
                        + "it cannot be opened with --timezone \(requested) (dates would change meaning). "
                        + "Start with --timezone \(zoneName), or import into a new data directory."
                )
            }
            let gap = Int64(
                try self.number(MetaKey.sessionGapMs, txn, schema) ?? UInt64(StoreConfiguration.defaultSessionGapMs)
            )
            if let requested = configuration.sessionGapMs, requested != gap {
                throw StoreError(
                    .cannotOpen,
                    "\(configuration.path) was created with a session gap of \(gap) ms; it cannot be opened with \(requested) ms"
                )
            }
            let threshold = Int(try self.number(MetaKey.powerThreshold, txn, schema) ?? 20)
            if let requested = configuration.powerThreshold, requested != threshold {
                throw StoreError(
                    .cannotOpen,
                    "\(configuration.path) was created with power threshold \(threshold); it cannot be opened with \(requested)"
                )
            }
            let defaultCore = try self.number(MetaKey.defaultCore, txn, schema).map { $0 != 0 } ?? true
            if let requested = configuration.autoRegisteredActionsAreCore, requested != defaultCore {
                throw StoreError(
                    .cannotOpen,
                    "\(configuration.path) registers unknown actions with is_core_action=\(defaultCore); it cannot be opened with \(requested)"
                )
            }
            var storeID = try self.number(MetaKey.storeID, txn, schema)
            if storeID == nil {
                // Directories made before store ids existed get one now.
                storeID = UInt64.random(in: 1...UInt64.max)
                try self.put(MetaKey.storeID, number: storeID!, txn, schema)
            }
            return StoreSettings(
                storeID: storeID!,
                zone: try ReportingTimeZone(identifier: zoneName),
                sessionGapMs: gap,
                powerThreshold: threshold,
                autoRegisteredActionsAreCore: defaultCore
            )
        }
        let zoneName = configuration.timeZone ?? "UTC"
        let zone: ReportingTimeZone
        do {
            zone = try ReportingTimeZone(identifier: zoneName)
        } catch {
            throw StoreError(.cannotOpen, "\(error)")
        }
        let gap = configuration.sessionGapMs ?? StoreConfiguration.defaultSessionGapMs
        guard StoreConfiguration.sessionGapRange.contains(gap) else {
            throw StoreError(.cannotOpen, "the session gap must be between 1 ms and 12 hours, not \(gap) ms")
        }
        let threshold = configuration.powerThreshold ?? StoreConfiguration.defaultPowerThreshold
        guard threshold >= 1 else {
            throw StoreError(.cannotOpen, "the power threshold must be at least 1, not \(threshold)")
        }
        let defaultCore = configuration.autoRegisteredActionsAreCore ?? true
        let storeID = UInt64.random(in: 1...UInt64.max)
        try self.put(MetaKey.schemaVersion, number: self.currentSchemaVersion, txn, schema)
        try self.put(MetaKey.storeID, number: storeID, txn, schema)
        try self.put(MetaKey.timeZone, string: zoneName, txn, schema)
        try self.put(MetaKey.sessionGapMs, number: UInt64(gap), txn, schema)
        try self.put(MetaKey.powerThreshold, number: UInt64(threshold), txn, schema)
        try self.put(MetaKey.defaultCore, number: defaultCore ? 1 : 0, txn, schema)
        for attribute in Attribute.allCases {
            let unknown = Array(Attribute.unknownValue.utf8)
            try schema.attributeValues.put(AttributeText(attribute: attribute, value: unknown), 0, txn)
            try schema.attributeNames.put(
                AttributeValueID(attribute: attribute, id: 0),
                AttributeValueRecord(users: 0, name: unknown),
                txn
            )
        }
        try self.write(StoreCounters(), txn, schema)
        return StoreSettings(
            storeID: storeID,
            zone: zone,
            sessionGapMs: gap,
            powerThreshold: threshold,
            autoRegisteredActionsAreCore: defaultCore
        )
    }
}
