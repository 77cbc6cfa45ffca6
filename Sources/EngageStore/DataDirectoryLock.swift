import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One process per data directory: an exclusive `flock` on `DIR/engage.lock`, held until ``release()``
/// (or the process ends, when the kernel drops it).
///
/// LMDB's own `lock.mdb` is shared by design (many processes may open one environment), so it does not keep
/// a second `engaged` away: two servers on one directory each keep their own in-memory counters and catalog
/// and overwrite each other's user keys. This lock is taken before LMDB opens anything. The file holds the
/// holder's pid and program name, for the message the next process prints; it is never deleted (deleting a
/// lock file lets a third process lock a new file while the second still holds the old one).
public final class DataDirectoryLock: @unchecked Sendable {
    // Sendable: the descriptor is only closed once, by release(), under the lock.
    private let descriptor = Mutex<Int32>(-1)
    public let directory: String

    /// The lock file's name inside a data directory.
    public static let fileName = "engage.lock"

    /// Takes the lock of `directory` (which must exist), or throws ``StoreError`` `.directoryInUse` naming the
    /// process that holds it.
    public init(directory: String) throws(StoreError) {
        self.directory = directory
        let path = directory + "/" + Self.fileName
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw StoreError(.cannotOpen, "cannot open the lock file \(path): \(String(cString: strerror(errno)))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let reason = errno
            let holder = Self.describeHolder(fd)
            close(fd)
            if reason == EWOULDBLOCK {
                throw StoreError(.directoryInUse, "\(directory) is in use by \(holder)")
            }
            throw StoreError(.cannotOpen, "cannot lock \(path): \(String(cString: strerror(reason)))")
        }
        let name = ProcessInfo.processInfo.processName
        let record = Array("pid \(getpid()) \(name)\n".utf8)
        _ = ftruncate(fd, 0)
        _ = record.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        self.descriptor.withLock { $0 = fd }
    }

    deinit { self.release() }

    /// Gives the lock up (idempotent).
    public func release() {
        self.descriptor.withLock { fd in
            guard fd >= 0 else { return }
            flock(fd, LOCK_UN)
            close(fd)
            fd = -1
        }
    }

    /// "engaged (pid 1234)" from the holder's record, or "another process" when it cannot be read.
    private static func describeHolder(_ fd: Int32) -> String {
        var buffer = [UInt8](repeating: 0, count: 256)
        let count = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { return "another process" }
        let fields = String(decoding: buffer[0..<count], as: UTF8.self).split(whereSeparator: \.isWhitespace)
        guard fields.count >= 3, fields[0] == "pid", let pid = Int(fields[1]) else { return "another process" }
        return "\(fields[2]) (pid \(pid))"
    }
}
