import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Where a data directory's journal lives: `DATA/journal` (the default, which moves with the data directory)
/// or a directory of its own, typically on another device so that the journal's syncs do not wait for LMDB's
/// (README "Performance notes").
///
/// The journal holds every acknowledged write the store has not applied yet, so no start may leave it behind
/// or take another store's. The data directory's `meta` records the journal's place and a random token; the
/// journal directory holds the token in a `journal-id` file and, while a server uses it, an `engage.lock`.
/// ``prepare(dataDirectory:recorded:appliedSequence:journalLost:)`` refuses: a move while the old place holds
/// records not applied yet, a recorded place without its `journal-id` (a file system not mounted), a directory
/// holding another journal (another data directory's, or a hand-made copy's that runs), journal segments of
/// unknown origin. `--journal-lost` starts without a journal that is gone, under a new token, so that the old
/// one is never mistaken for this store's again. A backup's copy has no recorded journal (``EngageStore/backup(to:)``).
struct JournalLocation: Equatable, Sendable {
    /// nil: `DATA/journal`.
    let customDirectory: String?

    static let identityFile = "journal-id"

    /// What `meta` records: the journal's place and the token its directory must hold.
    struct Binding: Equatable, Sendable {
        var place: JournalLocation
        var token: UInt64
    }

    /// What opening the journal here takes.
    struct Plan {
        /// The binding from now on; `meta` is rewritten when it changed.
        let binding: Binding
        let changed: Bool
        /// Held on a directory of the journal's own for as long as the store is open.
        let lock: DataDirectoryLock?
        /// The previous place, to empty once the move is recorded (everything in it is applied), and its lock.
        let previous: (directory: String, lock: DataDirectoryLock?)?
    }

    /// The configured place: `directory` made absolute; `DATA/journal` itself counts as the default.
    init(configured directory: String?, dataDirectory: String) {
        guard let directory else {
            self.customDirectory = nil
            return
        }
        let absolute = Self.absolute(directory)
        self.customDirectory = absolute == Self.absolute(dataDirectory + "/journal") ? nil : absolute
    }

    /// The place recorded in `meta` (the empty string for the default).
    init(recorded: String) {
        self.customDirectory = recorded.isEmpty ? nil : recorded
    }

    /// What `meta` records for this place.
    var recorded: String { self.customDirectory ?? "" }

    func directory(dataDirectory: String) -> String { self.customDirectory ?? dataDirectory + "/journal" }

    /// The flag that names this place, for messages.
    func flag(dataDirectory: String) -> String {
        self.customDirectory.map { "--journal \($0)" } ?? "no --journal (the default, \(dataDirectory)/journal)"
    }

    private static func absolute(_ path: String) -> String {
        let base = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        return URL(fileURLWithPath: path, relativeTo: base).standardizedFileURL.resolvingSymlinksInPath().path
    }

    /// Checks this (configured) place against the recorded binding and locks what it uses. `recorded` is nil
    /// for a new data directory, one made before the place was recorded, and a backup's copy: their journal can
    /// only be `DATA/journal`, without a `journal-id`.
    func prepare(
        dataDirectory: String,
        recorded: Binding?,
        appliedSequence: UInt64,
        journalLost: Bool
    ) throws(StoreError) -> Plan {
        let directory = self.directory(dataDirectory: dataDirectory)
        let lock = self.customDirectory == nil ? nil : try Self.lock(directory, dataDirectory: dataDirectory)
        let owner = Self.identity(in: directory)
        let mayHoldUnmarkedSegments = recorded == nil && self.customDirectory == nil
        if owner == nil, !mayHoldUnmarkedSegments, Self.holdsSegments(directory) {
            throw StoreError(
                .cannotOpen,
                "\(directory) holds journal segments but no \(Self.identityFile) file: they are not this data "
                    + "directory's journal; give it a directory without them"
            )
        }
        let lost =
            " Acknowledged writes that were not applied when the server stopped are only there; to start without"
            + " them (whatever they held is lost), add --journal-lost."
        // A journal-id without segments holds nothing acknowledged (a start that stopped before opening the
        // journal, whose lock this start now holds): taken over.
        // (Not for a data directory's own DATA/journal before its binding is recorded: an upgrade that stopped
        // between writing the journal-id and recording it.)
        if let owner, owner != recorded?.token, !mayHoldUnmarkedSegments, Self.holdsSegments(directory) {
            throw Self.anotherJournal(directory)
        }
        guard let recorded else {
            let binding = Binding(place: self, token: Self.newToken())
            if self.customDirectory == nil { return Plan(binding: binding, changed: true, lock: lock, previous: nil) }
            let previous = dataDirectory + "/journal"
            try Self.refuseUnapplied(in: previous, appliedSequence, "no --journal (the default, \(previous))")
            return Plan(binding: binding, changed: true, lock: lock, previous: (previous, nil))
        }
        let previous = recorded.place.directory(dataDirectory: dataDirectory)
        if Self.sameDirectory(previous, directory) {
            guard owner == nil else {
                let binding = Binding(place: self, token: recorded.token)
                return Plan(binding: binding, changed: binding != recorded, lock: lock, previous: nil)
            }
            guard journalLost else {
                let why =
                    self.customDirectory == nil
                    ? "was it deleted, or the data directory copied without it?"
                    : "is its file system mounted?"
                throw StoreError(
                    .cannotOpen,
                    "\(directory) holds no journal of \(dataDirectory) (no \(Self.identityFile) file), though its "
                        + "journal was kept there: \(why)" + lost
                )
            }
            return Plan(binding: Binding(place: self, token: Self.newToken()), changed: true, lock: lock, previous: nil)
        }
        // A move: the old place must hold nothing unapplied, and no server may be using it.
        let previousLock =
            recorded.place.customDirectory == nil || !FileManager.default.fileExists(atPath: previous)
            ? nil : try Self.lock(previous, dataDirectory: dataDirectory)
        if Self.identity(in: previous) == recorded.token {
            // The journal is there: --journal-lost does not skip what it holds.
            try Self.refuseUnapplied(in: previous, appliedSequence, recorded.place.flag(dataDirectory: dataDirectory))
            let binding = Binding(place: self, token: recorded.token)
            return Plan(binding: binding, changed: true, lock: lock, previous: (previous, previousLock))
        }
        guard journalLost else {
            throw StoreError(
                .cannotOpen,
                "the journal of \(dataDirectory) was at \(previous), which holds no journal of it now (missing, or its "
                    + "file system not mounted). Start with \(recorded.place.flag(dataDirectory: dataDirectory)) once "
                    + "it is back." + lost
            )
        }
        return Plan(binding: Binding(place: self, token: Self.newToken()), changed: true, lock: lock, previous: nil)
    }

    private static func anotherJournal(_ directory: String) -> StoreError {
        StoreError(
            .cannotOpen,
            "\(directory) holds the journal of another data directory (or of a copy of this one made by hand): "
                + "give each data directory a journal directory of its own"
        )
    }

    /// Throws when `directory` (the journal's previous place) holds records after `appliedSequence`.
    private static func refuseUnapplied(
        in directory: String,
        _ appliedSequence: UInt64,
        _ flag: String
    ) throws(StoreError) {
        let pending: Int
        do {
            pending = try Journal.unappliedRecords(in: directory, appliedSequence: appliedSequence)
        } catch {
            throw StoreError(.cannotOpen, "cannot read the journal at \(directory) to move it: \(error.message)")
        }
        guard pending == 0 else {
            throw StoreError(
                .cannotOpen,
                "the journal at \(directory) holds \(pending) acknowledged write\(pending == 1 ? "" : "s") not "
                    + "applied yet: start once with \(flag) (a stop applies everything), then move the journal"
            )
        }
    }

    /// Refuses a place that holds journal segments, for a data directory that does not exist yet (so that
    /// nothing is created).
    func refuseForNewDataDirectory(dataDirectory: String) throws(StoreError) {
        let directory = self.directory(dataDirectory: dataDirectory)
        if Self.holdsSegments(directory) { throw Self.anotherJournal(directory) }
    }

    /// Marks this place's directory as holding the journal with `token` (creating it), durably: the file is
    /// written beside and renamed over, so it is either whole or absent.
    func claim(dataDirectory: String, token: UInt64, sync: Bool) throws(StoreError) {
        let directory = self.directory(dataDirectory: dataDirectory)
        if Self.identity(in: directory) == token { return }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw StoreError(.cannotOpen, "cannot create the journal directory \(directory): \(error)")
        }
        let path = directory + "/" + Self.identityFile
        let temporary = path + ".new"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw StoreError(.cannotOpen, "cannot write \(temporary): \(String(cString: strerror(errno)))")
        }
        let text = Array((Self.hex(token) + "\n").utf8)
        let written = text.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        let synced = !sync || fsync(descriptor) == 0
        close(descriptor)
        guard written == text.count, synced, rename(temporary, path) == 0 else {
            throw StoreError(.cannotOpen, "cannot write \(path): \(String(cString: strerror(errno)))")
        }
        if sync { Journal.syncDirectory(directory) }
    }

    /// Empties the journal's previous place once the move is recorded: its segments (all applied) and its
    /// `journal-id`; `DATA/journal` goes altogether. The lock file stays (see ``DataDirectoryLock``).
    static func release(_ previous: (directory: String, lock: DataDirectoryLock?), dataDirectory: String) {
        // Segments first: a crash in between leaves a journal-id without segments, which holds nothing.
        for segment in Journal.segments(in: previous.directory) {
            try? FileManager.default.removeItem(atPath: segment.path)
        }
        try? FileManager.default.removeItem(atPath: previous.directory + "/" + Self.identityFile)
        if Self.sameDirectory(previous.directory, dataDirectory + "/journal") {
            try? FileManager.default.removeItem(atPath: previous.directory)
        }
        previous.lock?.release()
    }

    /// Takes the lock of a journal directory of its own (creating the directory), unless it is the data
    /// directory itself (whose lock the store holds).
    private static func lock(_ directory: String, dataDirectory: String) throws(StoreError) -> DataDirectoryLock? {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw StoreError(.cannotOpen, "cannot create the journal directory \(directory): \(error)")
        }
        if Self.sameDirectory(directory, dataDirectory) { return nil }
        return try DataDirectoryLock(directory: directory)
    }

    /// The token a journal directory's `journal-id` file holds; nil when there is none (or it is unreadable).
    static func identity(in directory: String) -> UInt64? {
        guard let data = FileManager.default.contents(atPath: directory + "/" + self.identityFile),
            let text = String(data: data, encoding: .utf8)
        else { return nil }
        return UInt64(text.trimmingCharacters(in: .whitespacesAndNewlines), radix: 16)
    }

    private static func holdsSegments(_ directory: String) -> Bool { !Journal.segments(in: directory).isEmpty }

    /// One directory, however spelled (symbolic links, bind mounts): same device and inode when both exist.
    static func sameDirectory(_ first: String, _ second: String) -> Bool {
        var a = stat()
        var b = stat()
        guard stat(first, &a) == 0, stat(second, &b) == 0 else { return Self.absolute(first) == Self.absolute(second) }
        return a.st_dev == b.st_dev && a.st_ino == b.st_ino
    }

    private static func newToken() -> UInt64 { UInt64.random(in: 1...UInt64.max) }

    static func hex(_ token: UInt64) -> String {
        let digits = String(token, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
