import CLMDB

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A named LMDB database inside an environment. Handles stay valid for the environment's lifetime.
public struct Database: Sendable, Hashable {
    public let handle: MDB_dbi
    public let name: String
}

public struct DatabaseFlags: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let create = DatabaseFlags(rawValue: UInt32(MDB_CREATE))
    public static let duplicateSort = DatabaseFlags(rawValue: UInt32(MDB_DUPSORT))
}

/// Usage figures of an environment, read without a transaction.
public struct EnvironmentInfo: Sendable {
    public let mapSize: Int
    public let pageSize: Int
    /// Pages in use up to the highest page ever written (LMDB never shrinks the file).
    public let usedPages: Int
    public var usedBytes: Int { self.usedPages * self.pageSize }
}

/// An LMDB environment opened with `MDB_NOTLS`, so that read transactions are not tied to threads.
///
/// Transactions are synchronous, non-escaping closures: a write commits when its closure returns and aborts
/// when it throws. Bytes handed out by a transaction point into the memory map and are valid only until the
/// closure returns; copy what must outlive it.
///
/// Changing the map size needs every transaction of this process to be closed, so each transaction holds a
/// shared lock that ``setMapSize(_:)`` takes exclusively (writer-preferring, so a resize is not starved).
public final class Environment: @unchecked Sendable {
    // Safe to share: LMDB environments are thread-safe with MDB_NOTLS; the pointer never changes.
    let pointer: OpaquePointer
    public let path: String
    private let resizeLock: UnsafeMutablePointer<pthread_rwlock_t>

    public struct Options: Sendable {
        public var mapSize: Int
        public var maxDatabases: Int
        public var maxReaders: Int
        /// Skips the fsync of commits: only for throw-away stores in tests and benchmarks.
        public var unsafeNoSync: Bool
        public var readOnly: Bool

        public init(
            mapSize: Int = 1 << 30,
            maxDatabases: Int = 32,
            maxReaders: Int = 256,
            unsafeNoSync: Bool = false,
            readOnly: Bool = false
        ) {
            self.mapSize = mapSize
            self.maxDatabases = maxDatabases
            self.maxReaders = maxReaders
            self.unsafeNoSync = unsafeNoSync
            self.readOnly = readOnly
        }
    }

    /// Opens (creating if needed) the environment in the directory `path`, which must exist.
    public init(path: String, options: Options = Options()) throws(LMDBError) {
        var env: OpaquePointer?
        try check(mdb_env_create(&env), "mdb_env_create")
        guard let env else { throw LMDBError(code: ENOMEM, operation: "mdb_env_create") }
        do {
            try check(mdb_env_set_mapsize(env, options.mapSize), "mdb_env_set_mapsize")
            try check(mdb_env_set_maxdbs(env, MDB_dbi(options.maxDatabases)), "mdb_env_set_maxdbs")
            try check(mdb_env_set_maxreaders(env, UInt32(options.maxReaders)), "mdb_env_set_maxreaders")
            var flags = UInt32(MDB_NOTLS)
            if options.unsafeNoSync { flags |= UInt32(MDB_NOSYNC) }
            if options.readOnly { flags |= UInt32(MDB_RDONLY) }
            try check(mdb_env_open(env, path, flags, 0o644), "mdb_env_open \(path)")
        } catch {
            mdb_env_close(env)
            throw error
        }
        self.pointer = env
        self.path = path
        self.resizeLock = .allocate(capacity: 1)
        var attributes = pthread_rwlockattr_t()
        pthread_rwlockattr_init(&attributes)
        pthread_rwlockattr_setkind_np(&attributes, Int32(PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP))
        pthread_rwlock_init(self.resizeLock, &attributes)
        pthread_rwlockattr_destroy(&attributes)
    }

    deinit {
        mdb_env_close(self.pointer)
        pthread_rwlock_destroy(self.resizeLock)
        self.resizeLock.deallocate()
    }

    /// Opens a named database, creating it when `flags` contains `.create`.
    public func openDatabase(_ name: String, flags: DatabaseFlags = .create) throws -> Database {
        try self.write { txn in try txn.openDatabase(name, flags: flags) }
    }

    /// Runs `body` in a read-only transaction. Keep it short: a long reader stops page reuse.
    public func read<Result>(_ body: (borrowing Transaction) throws -> Result) throws -> Result {
        pthread_rwlock_rdlock(self.resizeLock)
        defer { pthread_rwlock_unlock(self.resizeLock) }
        var txn: OpaquePointer?
        try check(mdb_txn_begin(self.pointer, nil, UInt32(MDB_RDONLY), &txn), "mdb_txn_begin (read)")
        let transaction = Transaction(pointer: txn!, isReadOnly: true)
        defer { mdb_txn_abort(txn) }
        return try body(transaction)
    }

    /// Runs `body` in a write transaction and commits (durably, unless opened with `unsafeNoSync`) when it
    /// returns; aborts when it throws. LMDB allows one writer at a time: callers serialise writes themselves.
    public func write<Result>(_ body: (borrowing Transaction) throws -> Result) throws -> Result {
        pthread_rwlock_rdlock(self.resizeLock)
        defer { pthread_rwlock_unlock(self.resizeLock) }
        var txn: OpaquePointer?
        try check(mdb_txn_begin(self.pointer, nil, 0, &txn), "mdb_txn_begin (write)")
        let transaction = Transaction(pointer: txn!, isReadOnly: false)
        let result: Result
        do {
            result = try body(transaction)
        } catch {
            mdb_txn_abort(txn)
            throw error
        }
        // mdb_txn_commit frees the transaction even when it fails.
        try check(mdb_txn_commit(txn), "mdb_txn_commit")
        return result
    }

    /// Runs `body` in a write transaction and rolls it back when `body` returns: for work that must see its
    /// own writes but keep none of them (as heed's `RwTxn::abort`). No error is needed to undo it.
    public func writeAndRollBack<Result>(_ body: (borrowing Transaction) throws -> Result) throws -> Result {
        pthread_rwlock_rdlock(self.resizeLock)
        defer { pthread_rwlock_unlock(self.resizeLock) }
        var txn: OpaquePointer?
        try check(mdb_txn_begin(self.pointer, nil, 0, &txn), "mdb_txn_begin (write)")
        let transaction = Transaction(pointer: txn!, isReadOnly: false)
        defer { mdb_txn_abort(txn) }
        return try body(transaction)
    }

    public var info: EnvironmentInfo {
        var envInfo = MDB_envinfo()
        mdb_env_info(self.pointer, &envInfo)
        var stat = MDB_stat()
        mdb_env_stat(self.pointer, &stat)
        return EnvironmentInfo(
            mapSize: envInfo.me_mapsize,
            pageSize: Int(stat.ms_psize),
            usedPages: envInfo.me_last_pgno + 1
        )
    }

    /// Grows (or shrinks) the memory map. Waits until no transaction of this process is open.
    public func setMapSize(_ size: Int) throws(LMDBError) {
        pthread_rwlock_wrlock(self.resizeLock)
        defer { pthread_rwlock_unlock(self.resizeLock) }
        try check(mdb_env_set_mapsize(self.pointer, size), "mdb_env_set_mapsize")
    }

    /// Writes a consistent copy of the environment into the existing empty directory `path`, optionally
    /// compacted (free pages omitted, pages renumbered). Runs in a read transaction: writers go on meanwhile.
    public func copy(to path: String, compact: Bool) throws(LMDBError) {
        pthread_rwlock_rdlock(self.resizeLock)
        defer { pthread_rwlock_unlock(self.resizeLock) }
        try check(
            mdb_env_copy2(self.pointer, path, compact ? UInt32(MDB_CP_COMPACT) : 0),
            "mdb_env_copy2 \(path)"
        )
    }

    /// Flushes buffers to disk; only needed with `unsafeNoSync`.
    public func sync() throws(LMDBError) {
        try check(mdb_env_sync(self.pointer, 1), "mdb_env_sync")
    }

    /// The longest key LMDB accepts in this build (511 bytes by default).
    public var maxKeySize: Int { Int(mdb_env_get_maxkeysize(self.pointer)) }
}
