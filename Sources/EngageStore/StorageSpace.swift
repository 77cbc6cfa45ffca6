#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Whether a failed write ran out of room. LMDB reports a short `pwrite` as EIO, and a disk that fills up
/// (or a file that reaches `ulimit -f`) mid-write usually produces exactly that: so an EIO while the
/// room left is this small is a full disk for the client, not an internal error.
enum StorageSpace {
    /// Less free space than this (or this close to the file size limit) counts as full.
    static let headroom = 64 << 20

    static func isExhausted(directory: String) -> Bool {
        var filesystem = statvfs()
        if statvfs(directory, &filesystem) == 0, Int(filesystem.f_bavail) * Int(filesystem.f_frsize) < Self.headroom {
            return true
        }
        var limit = rlimit()
        var file = stat()
        // RLIM_INFINITY is all ones.
        guard getrlimit(Int32(RLIMIT_FSIZE.rawValue), &limit) == 0, limit.rlim_cur != rlim_t.max,
            stat(directory + "/data.mdb", &file) == 0
        else { return false }
        return Int(file.st_size) + Self.headroom > Int(clamping: limit.rlim_cur)
    }
}
