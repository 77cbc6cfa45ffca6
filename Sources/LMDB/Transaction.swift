import CLMDB

/// Flags for ``Transaction/put(_:key:value:flags:)``.
public struct PutFlags: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    /// Fail with `false` instead of replacing an existing key.
    public static let noOverwrite = PutFlags(rawValue: UInt32(MDB_NOOVERWRITE))
    /// The key sorts after every key in the database (bulk loads).
    public static let append = PutFlags(rawValue: UInt32(MDB_APPEND))
}

/// A key and a value inside the memory map, valid until the transaction ends.
public struct Entry {
    public let key: UnsafeRawBufferPointer
    public let value: UnsafeRawBufferPointer
}

/// A transaction, only ever lent to a closure by ``Environment/read(_:)`` or ``Environment/write(_:)``.
/// Non-copyable, so it cannot outlive that closure.
public struct Transaction: ~Copyable {
    let pointer: OpaquePointer
    public let isReadOnly: Bool

    init(pointer: OpaquePointer, isReadOnly: Bool) {
        self.pointer = pointer
        self.isReadOnly = isReadOnly
    }

    public func openDatabase(_ name: String, flags: DatabaseFlags) throws -> Database {
        var dbi: MDB_dbi = 0
        try check(mdb_dbi_open(self.pointer, name, flags.rawValue, &dbi), "mdb_dbi_open \(name)")
        return Database(handle: dbi, name: name)
    }

    /// The value stored under `key`, or nil. Points into the map: copy it before the transaction ends.
    public func get(_ db: Database, key: UnsafeRawBufferPointer) throws -> UnsafeRawBufferPointer? {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val()
        let rc = mdb_get(self.pointer, db.handle, &k, &v)
        if rc == MDB_NOTFOUND { return nil }
        try check(rc, "mdb_get \(db.name)")
        return UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size)
    }

    public func get(_ db: Database, key: [UInt8]) throws -> UnsafeRawBufferPointer? {
        var k = key
        return try k.withUnsafeMutableBytes { (raw) in
            try self.get(db, key: UnsafeRawBufferPointer(raw))
        }
    }

    /// Stores `value` under `key`. Returns false when `.noOverwrite` is given and the key exists.
    @discardableResult
    public func put(
        _ db: Database,
        key: UnsafeRawBufferPointer,
        value: UnsafeRawBufferPointer,
        flags: PutFlags = []
    ) throws -> Bool {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        var v = MDB_val(mv_size: value.count, mv_data: UnsafeMutableRawPointer(mutating: value.baseAddress))
        let rc = mdb_put(self.pointer, db.handle, &k, &v, flags.rawValue)
        if rc == MDB_KEYEXIST && flags.contains(.noOverwrite) { return false }
        try check(rc, "mdb_put \(db.name)")
        return true
    }

    @discardableResult
    public func put(_ db: Database, key: [UInt8], value: [UInt8], flags: PutFlags = []) throws -> Bool {
        try key.withUnsafeBytes { (k) in
            try value.withUnsafeBytes { (v) in
                try self.put(db, key: k, value: v, flags: flags)
            }
        }
    }

    /// Deletes `key`; returns false when it was not there.
    @discardableResult
    public func delete(_ db: Database, key: UnsafeRawBufferPointer) throws -> Bool {
        var k = MDB_val(mv_size: key.count, mv_data: UnsafeMutableRawPointer(mutating: key.baseAddress))
        let rc = mdb_del(self.pointer, db.handle, &k, nil)
        if rc == MDB_NOTFOUND { return false }
        try check(rc, "mdb_del \(db.name)")
        return true
    }

    @discardableResult
    public func delete(_ db: Database, key: [UInt8]) throws -> Bool {
        try key.withUnsafeBytes { (k) in try self.delete(db, key: k) }
    }

    /// Removes every entry of `db` (the database itself stays).
    public func empty(_ db: Database) throws {
        try check(mdb_drop(self.pointer, db.handle, 0), "mdb_drop \(db.name)")
    }

    /// Number of entries in `db`.
    public func count(_ db: Database) throws -> Int {
        var stat = MDB_stat()
        try check(mdb_stat(self.pointer, db.handle, &stat), "mdb_stat \(db.name)")
        return stat.ms_entries
    }

    /// Lends a cursor over `db` to `body`; the cursor is closed when it returns.
    public func withCursor<Result>(
        _ db: Database,
        _ body: (inout Cursor) throws -> Result
    ) throws -> Result {
        var cursorPointer: OpaquePointer?
        try check(mdb_cursor_open(self.pointer, db.handle, &cursorPointer), "mdb_cursor_open \(db.name)")
        var cursor = Cursor(pointer: cursorPointer!, database: db)
        defer { mdb_cursor_close(cursorPointer) }
        return try body(&cursor)
    }

    /// Calls `body` for each entry whose key starts with `prefix`, in key order, until it returns false.
    public func forEach(
        _ db: Database,
        prefix: [UInt8],
        _ body: (Entry) throws -> Bool
    ) throws {
        try self.forEach(db, from: prefix, whilePrefix: prefix, body)
    }

    /// Calls `body` for each entry from the first key >= `start` while keys start with `prefix`.
    public func forEach(
        _ db: Database,
        from start: [UInt8],
        whilePrefix prefix: [UInt8],
        _ body: (Entry) throws -> Bool
    ) throws {
        try self.withCursor(db) { cursor in
            var entry = start.isEmpty ? try cursor.first() : try cursor.seek(atLeast: start)
            while let current = entry, current.key.starts(with: prefix) {
                guard try body(current) else { return }
                entry = try cursor.next()
            }
        }
    }
}

/// A cursor, lent by ``Transaction/withCursor(_:_:)``.
public struct Cursor: ~Copyable {
    let pointer: OpaquePointer
    let database: Database

    private func get(_ op: MDB_cursor_op, key: UnsafeRawBufferPointer? = nil) throws -> Entry? {
        var k = MDB_val(mv_size: key?.count ?? 0, mv_data: UnsafeMutableRawPointer(mutating: key?.baseAddress))
        var v = MDB_val()
        let rc = mdb_cursor_get(self.pointer, &k, &v, op)
        if rc == MDB_NOTFOUND { return nil }
        try check(rc, "mdb_cursor_get \(self.database.name)")
        return Entry(
            key: UnsafeRawBufferPointer(start: k.mv_data, count: k.mv_size),
            value: UnsafeRawBufferPointer(start: v.mv_data, count: v.mv_size)
        )
    }

    /// Positions at the first key >= `key`.
    public mutating func seek(atLeast key: UnsafeRawBufferPointer) throws -> Entry? {
        try self.get(MDB_SET_RANGE, key: key)
    }

    public mutating func seek(atLeast key: [UInt8]) throws -> Entry? {
        try key.withUnsafeBytes { (k) in try self.seek(atLeast: k) }
    }

    /// Positions at the last key <= `key`.
    public mutating func seek(atMost key: [UInt8]) throws -> Entry? {
        if let entry = try self.seek(atLeast: key) {
            if entry.key.elementsEqual(key) { return entry }
            return try self.previous()
        }
        return try self.last()
    }

    public mutating func first() throws -> Entry? { try self.get(MDB_FIRST) }
    public mutating func last() throws -> Entry? { try self.get(MDB_LAST) }
    public mutating func next() throws -> Entry? { try self.get(MDB_NEXT) }
    public mutating func previous() throws -> Entry? { try self.get(MDB_PREV) }

    /// Deletes the entry at the cursor; the cursor then points at the following entry (use `current()`).
    public mutating func deleteCurrent() throws {
        try check(mdb_cursor_del(self.pointer, 0), "mdb_cursor_del \(self.database.name)")
    }

    public mutating func current() throws -> Entry? { try self.get(MDB_GET_CURRENT) }
}

extension UnsafeRawBufferPointer {
    /// Whether these bytes begin with `prefix`.
    @inlinable
    public func starts(with prefix: [UInt8]) -> Bool {
        guard self.count >= prefix.count else { return false }
        for index in 0..<prefix.count where self[index] != prefix[index] { return false }
        return true
    }
}
