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
/// The journal holds every acknowledged write the store has not applied yet, so a start must never leave it
/// behind. The data directory records where its journal is (`journal_directory` in `meta`) and the journal
/// directory records whose journal it holds (a `store-id` file); ``check(dataDirectory:storeID:appliedSequence:recorded:journalLost:)``
/// refuses a start that would skip acknowledged writes: a move while the old place still holds unapplied
/// records, a journal place that no longer holds this store's journal (a file system not mounted), another
/// store's journal.
struct JournalLocation: Equatable, Sendable {
    /// nil: `DATA/journal`.
    let customDirectory: String?

    static let identityFile = "store-id"

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
        let url = URL(fileURLWithPath: path, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath))
        return url.standardizedFileURL.path
    }

    /// Throws when opening the journal here could lose or misapply acknowledged writes. `recorded`: the place
    /// `meta` records, nil for data directories made before it was recorded (their journal is `DATA/journal`,
    /// without a `store-id` file).
    func check(
        dataDirectory: String,
        storeID: UInt64,
        appliedSequence: UInt64,
        recorded: JournalLocation?,
        journalLost: Bool
    ) throws(StoreError) {
        let directory = self.directory(dataDirectory: dataDirectory)
        let owner = Self.identity(in: directory)
        if owner != nil, owner != storeID { try self.refuseJournalOfAnotherStore(dataDirectory: dataDirectory) }
        let lost =
            " Acknowledged writes that were not applied when the server stopped are only there; to start without"
            + " them (they are lost), add --journal-lost."
        guard let recorded else {
            // Made before the place was recorded: the journal can only be in DATA/journal.
            let defaultPlace = JournalLocation(configured: nil, dataDirectory: dataDirectory)
            try Self.refuseUnapplied(
                in: defaultPlace.directory(dataDirectory: dataDirectory),
                self == defaultPlace,
                appliedSequence,
                journalLost,
                defaultPlace.flag(dataDirectory: dataDirectory)
            )
            return
        }
        let previous = recorded.directory(dataDirectory: dataDirectory)
        if recorded == self {
            if owner == nil, !journalLost {
                throw StoreError(
                    .cannotOpen,
                    "\(directory) holds no journal of \(dataDirectory) (no \(Self.identityFile) file), though its "
                        + "journal was kept there: is its file system mounted?" + lost
                )
            }
            return
        }
        guard Self.identity(in: previous) == storeID else {
            if journalLost { return }
            throw StoreError(
                .cannotOpen,
                "the journal of \(dataDirectory) was at \(previous), which holds no journal of it now (missing, or its "
                    + "file system not mounted). Start with \(recorded.flag(dataDirectory: dataDirectory)) once it is "
                    + "back." + lost
            )
        }
        try Self.refuseUnapplied(
            in: previous,
            false,
            appliedSequence,
            journalLost,
            recorded.flag(dataDirectory: dataDirectory)
        )
    }

    /// Throws when this place holds a journal (of a store other than the one in `dataDirectory`, as the caller
    /// established).
    func refuseJournalOfAnotherStore(dataDirectory: String) throws(StoreError) {
        let directory = self.directory(dataDirectory: dataDirectory)
        guard let owner = Self.identity(in: directory) else { return }
        throw StoreError(
            .cannotOpen,
            "\(directory) holds the journal of another data directory (store id \(Self.hex(owner))): give each data "
                + "directory a journal directory of its own"
        )
    }

    /// Throws when `directory` (the journal's previous place) holds records after `appliedSequence`, unless the
    /// journal stays there or the loss is accepted.
    private static func refuseUnapplied(
        in directory: String,
        _ staysThere: Bool,
        _ appliedSequence: UInt64,
        _ journalLost: Bool,
        _ flag: String
    ) throws(StoreError) {
        if staysThere || journalLost { return }
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

    /// Marks `directory` as holding the journal of store `storeID` (creating it), durably.
    func claim(dataDirectory: String, storeID: UInt64, sync: Bool) throws(StoreError) {
        let directory = self.directory(dataDirectory: dataDirectory)
        if Self.identity(in: directory) == storeID { return }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw StoreError(.cannotOpen, "cannot create the journal directory \(directory): \(error)")
        }
        let path = directory + "/" + Self.identityFile
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw StoreError(.cannotOpen, "cannot write \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        let text = Array((Self.hex(storeID) + "\n").utf8)
        let written = text.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        guard written == text.count, !sync || fsync(descriptor) == 0 else {
            throw StoreError(.cannotOpen, "cannot write \(path): \(String(cString: strerror(errno)))")
        }
        if sync {
            let parent = open(directory, O_RDONLY | O_DIRECTORY)
            if parent >= 0 {
                _ = fsync(parent)
                close(parent)
            }
        }
    }

    /// Deletes this place's journal files once the journal has moved away (only when they are this store's).
    func release(dataDirectory: String, storeID: UInt64) {
        let directory = self.directory(dataDirectory: dataDirectory)
        guard Self.identity(in: directory) == storeID else { return }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        for name in names where name.hasSuffix(".journal") {
            try? FileManager.default.removeItem(atPath: directory + "/" + name)
        }
        try? FileManager.default.removeItem(atPath: directory + "/" + Self.identityFile)
        if self.customDirectory == nil { try? FileManager.default.removeItem(atPath: directory) }
    }

    /// The store id a journal directory's `store-id` file names; nil when there is none (or it is unreadable).
    static func identity(in directory: String) -> UInt64? {
        guard let data = FileManager.default.contents(atPath: directory + "/" + self.identityFile),
            let text = String(data: data, encoding: .utf8)
        else { return nil }
        return UInt64(text.trimmingCharacters(in: .whitespacesAndNewlines), radix: 16)
    }

    static func hex(_ storeID: UInt64) -> String {
        let digits = String(storeID, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
