/// Why the store refused or failed a call. One type for every failure, with a code the server maps to the
/// protocol's error code and a message written for the person who reads it.
///
/// The code is a struct rather than an enum so that new codes can be added without breaking callers that
/// switch over the ones they know (valkey-swift's `ValkeyClientError.ErrorCode` does the same).
public struct StoreError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case invalidQuery = "invalid_query"
            case invalidCursor = "invalid_cursor"
            case cannotOpen = "cannot_open"
            case directoryInUse = "directory_in_use"
            case storageFull = "storage_full"
            case closed
            case rawEventsDropped = "raw_events_dropped"
            case backupFailed = "backup_failed"
            case corruptRecord = "corrupt_record"
            case failed
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// A query's parameters are outside what the store can answer (range, dimension, value).
        public static let invalidQuery = Code(.invalidQuery)
        /// An export cursor that this store did not hand out for this table and range.
        public static let invalidCursor = Code(.invalidCursor)
        /// The data directory cannot be opened or created as configured.
        public static let cannotOpen = Code(.cannotOpen)
        /// Another process holds the data directory (see ``DataDirectoryLock``).
        public static let directoryInUse = Code(.directoryInUse)
        /// The disk is full: nothing of the batch was stored.
        public static let storageFull = Code(.storageFull)
        /// The store is shutting down.
        public static let closed = Code(.closed)
        /// The request needs raw events that raw-event retention has dropped (verify, rebuild).
        public static let rawEventsDropped = Code(.rawEventsDropped)
        /// A backup could not be written (target in use, not empty, not writable, out of space).
        public static let backupFailed = Code(.backupFailed)
        /// Stored bytes are not what this version of Engage writes.
        public static let corruptRecord = Code(.corruptRecord)
        /// Anything else; nothing of the request was stored.
        public static let failed = Code(.failed)

        /// A stable snake_case name (`invalid_query`, `directory_in_use`, ...).
        public var name: String { self.base.rawValue }
        public var description: String { self.name }
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { self.message }
}

extension StoreError {
    init(_ corrupt: CorruptRecord) {
        self.init(.corruptRecord, corrupt.description)
    }
}
