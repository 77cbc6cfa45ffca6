import CLMDB

/// An error returned by LMDB, with its numeric code and LMDB's own description.
public struct LMDBError: Error, Equatable, CustomStringConvertible {
    public let code: Int32
    /// What the wrapper was doing when LMDB failed ("mdb_txn_commit", "mdb_put events"...).
    public let operation: String

    public init(code: Int32, operation: String) {
        self.code = code
        self.operation = operation
    }

    public var description: String {
        "\(self.operation): \(String(cString: mdb_strerror(self.code))) (\(self.code))"
    }

    /// The map is full: the store grows it and retries; no caller ever sees this.
    public var isMapFull: Bool { self.code == MDB_MAP_FULL }
    /// Another process grew the map; the environment must adopt the new size.
    public var isMapResized: Bool { self.code == MDB_MAP_RESIZED }
    /// The disk is full (ENOSPC), the quota is exhausted (EDQUOT), or the file size limit is reached (EFBIG).
    public var isDiskFull: Bool { self.code == 28 || self.code == 122 || self.code == 27 }

    /// A read or write failed (EIO); LMDB also reports a short write this way.
    public var isIOError: Bool { self.code == 5 }

    public static func == (lhs: LMDBError, rhs: LMDBError) -> Bool { lhs.code == rhs.code }
}

@inline(__always)
func check(_ rc: Int32, _ operation: @autoclosure () -> String) throws(LMDBError) {
    if rc != 0 { throw LMDBError(code: rc, operation: operation()) }
}
