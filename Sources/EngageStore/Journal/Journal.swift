import CEngageSystem
import EngageModel
import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The write-ahead journal: what makes an acknowledgement durable before the store has applied it.
///
/// Append-only segment files in `DATA/journal/` (or `--journal DIR`, see ``JournalLocation``), named by the
/// sequence number of their first record. A record is `length u32 | crc32c u32 | sequence u64 | body`,
/// big-endian; `length` counts the sequence and the body,
/// the checksum covers them. The sequencer appends the records of a group of requests with one `write` and
/// makes them durable with one `fdatasync` (group commit) before acknowledging any of them. The applier stores
/// the sequence it applied in LMDB in the same transaction; segments whose records are all applied (and that
/// transaction durable) are deleted. Opening replays what follows the applied sequence and stops at the first
/// torn or damaged record, which no acknowledgement can have covered (the record was not synced whole).
final class Journal {
    struct Segment {
        let firstSequence: UInt64
        let path: String
    }

    let directory: String
    let sync: Bool
    let segmentBytes: Int
    let logger: Logger
    private var descriptor: Int32 = -1
    private var size = 0
    private(set) var segments: [Segment] = []
    /// The sequence number of the last record written (0 before any).
    private(set) var lastSequence: UInt64

    static let headerSize = 8
    /// Records above this size are refused as damaged (a request is bounded far below it).
    static let largestRecord = 1 << 30

    private init(directory: String, sync: Bool, segmentBytes: Int, lastSequence: UInt64, logger: Logger) {
        self.directory = directory
        self.sync = sync
        self.segmentBytes = segmentBytes
        self.lastSequence = lastSequence
        self.logger = logger
    }

    deinit { if self.descriptor >= 0 { close(self.descriptor) } }

    /// Opens the journal of a data directory whose store has applied everything up to `appliedSequence`, and
    /// returns the records after it, in order, for replay. A torn or damaged record ends the journal there:
    /// the file is cut before it and anything later is removed.
    static func open(
        directory: String,
        appliedSequence: UInt64,
        sync: Bool,
        segmentBytes: Int = 64 << 20,
        logger: Logger
    ) throws -> (journal: Journal, replay: [(sequence: UInt64, record: JournalRecord)]) {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw StoreError(.cannotOpen, "cannot create the journal directory \(directory): \(error)")
        }
        let segments = Self.segments(in: directory)
        var replay: [(UInt64, JournalRecord)] = []
        var expected = appliedSequence + 1
        var lastSequence = appliedSequence
        var kept: [Segment] = []
        var ended = false
        for segment in segments {
            if ended {
                logger.error("journal segment after a damaged record removed", metadata: ["file": "\(segment.path)"])
                try? FileManager.default.removeItem(atPath: segment.path)
                continue
            }
            let scan = try Self.scan(segment.path)
            for (sequence, record) in scan.records {
                guard sequence >= expected || sequence <= appliedSequence else {
                    throw StoreError(
                        .corruptRecord,
                        "the journal skips from sequence \(expected - 1) to \(sequence) in \(segment.path)"
                    )
                }
                if sequence > appliedSequence {
                    guard sequence == expected else {
                        throw StoreError(
                            .corruptRecord,
                            "the journal lacks records \(expected) ... \(sequence - 1) that the store has not applied"
                        )
                    }
                    replay.append((sequence, record))
                    expected += 1
                }
                lastSequence = max(lastSequence, sequence)
            }
            kept.append(segment)
            if let damage = scan.damage {
                logger.warning(
                    "journal ends with a torn or damaged record; cut there",
                    metadata: ["file": "\(segment.path)", "offset": "\(scan.validBytes)", "why": "\(damage)"]
                )
                try Self.truncate(segment.path, to: scan.validBytes)
                ended = true
            }
        }
        let journal = Journal(
            directory: directory,
            sync: sync,
            segmentBytes: segmentBytes,
            lastSequence: lastSequence,
            logger: logger
        )
        journal.segments = kept
        try journal.startSegment()
        return (journal, replay)
    }

    /// The segment files in `directory`, oldest first (none when it does not exist).
    static func segments(in directory: String) -> [Segment] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        let segments = names.compactMap { name -> Segment? in
            guard name.hasSuffix(".journal"), let first = UInt64(name.dropLast(".journal".count)) else { return nil }
            return Segment(firstSequence: first, path: directory + "/" + name)
        }
        return segments.sorted { $0.firstSequence < $1.firstSequence }
    }

    /// How many whole records after `appliedSequence` the journal in `directory` holds, read without changing
    /// anything (up to the first torn or damaged record, as ``open(directory:appliedSequence:sync:segmentBytes:logger:)``
    /// would replay).
    static func unappliedRecords(in directory: String, appliedSequence: UInt64) throws(StoreError) -> Int {
        var count = 0
        for segment in Self.segments(in: directory) {
            let scan: (records: [(UInt64, JournalRecord)], validBytes: Int, damage: String?)
            do {
                scan = try Self.scan(segment.path)
            } catch {
                throw (error as? StoreError) ?? StoreError(.cannotOpen, "\(error)")
            }
            count += scan.records.filter { $0.0 > appliedSequence }.count
            if scan.damage != nil { break }
        }
        return count
    }

    /// Reads a segment: its whole records, and why it stopped early (nil at a clean end).
    static func scan(
        _ path: String
    ) throws -> (records: [(UInt64, JournalRecord)], validBytes: Int, damage: String?) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw StoreError(.cannotOpen, "cannot read the journal segment \(path)")
        }
        return data.withUnsafeBytes { bytes in
            var records: [(UInt64, JournalRecord)] = []
            var offset = 0
            while offset < bytes.count {
                guard bytes.count - offset >= Self.headerSize + 8 else {
                    return (records, offset, "a header cut short")
                }
                let length = Int(bytes.loadBigEndianU32(at: offset))
                let checksum = bytes.loadBigEndianU32(at: offset + 4)
                guard length >= 8, length <= Self.largestRecord else {
                    return (records, offset, "an impossible length \(length)")
                }
                guard bytes.count - offset - Self.headerSize >= length else {
                    return (records, offset, "a record cut short")
                }
                let body = UnsafeRawBufferPointer(
                    rebasing: bytes[(offset + Self.headerSize)..<(offset + Self.headerSize + length)]
                )
                guard engage_crc32c(0, body.baseAddress, body.count) == checksum else {
                    return (records, offset, "a checksum mismatch")
                }
                let sequence = body.loadBigEndianU64(at: 0)
                do {
                    records.append(
                        (sequence, try JournalRecord(decoding: UnsafeRawBufferPointer(rebasing: body[8...])))
                    )
                } catch {
                    return (records, offset, "\(error)")
                }
                offset += Self.headerSize + length
            }
            return (records, offset, nil)
        }
    }

    private static func truncate(_ path: String, to size: Int) throws {
        let descriptor = Glibc.open(path, O_WRONLY)
        guard descriptor >= 0 else { throw StoreError(.cannotOpen, "cannot open \(path) to cut its torn tail") }
        defer { close(descriptor) }
        guard ftruncate(descriptor, off_t(size)) == 0, fsync(descriptor) == 0 else {
            throw StoreError(.cannotOpen, "cannot cut the torn tail of \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// Starts a new segment for the records after ``lastSequence``.
    private func startSegment() throws {
        if self.descriptor >= 0 { close(self.descriptor) }
        let first = self.lastSequence + 1
        let path = self.directory + "/" + String(format: "%020llu", first) + ".journal"
        let descriptor = Glibc.open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw StoreError(
                .cannotOpen,
                "cannot create the journal segment \(path): \(String(cString: strerror(errno)))"
            )
        }
        self.descriptor = descriptor
        self.size = 0
        self.segments.removeAll { $0.firstSequence == first }
        self.segments.append(Segment(firstSequence: first, path: path))
        try self.syncDirectory()
    }

    private func syncDirectory() throws {
        guard self.sync else { return }
        Self.syncDirectory(self.directory)
    }

    /// Makes the entries of `directory` (files created, renamed or deleted) durable.
    static func syncDirectory(_ directory: String) {
        let descriptor = Glibc.open(directory, O_RDONLY | O_DIRECTORY)
        guard descriptor >= 0 else { return }
        defer { close(descriptor) }
        _ = fsync(descriptor)
    }

    /// Appends `records` (numbered from ``lastSequence`` + 1, in order) with one write and, unless the store
    /// runs without syncing, one `fdatasync`. On failure nothing of them stays in the file.
    func append(_ records: [JournalRecord]) throws -> ClosedRange<UInt64> {
        let first = self.lastSequence + 1
        var writer = ByteWriter(capacity: 1 << 16)
        for (index, record) in records.enumerated() {
            let start = writer.bytes.count
            writer.u32(0)
            writer.u32(0)
            writer.u64(first + UInt64(index))
            record.encode(into: &writer)
            let length = writer.bytes.count - start - Self.headerSize
            let checksum = writer.bytes.withUnsafeBytes {
                engage_crc32c(0, $0.baseAddress! + start + Self.headerSize, length)
            }
            writer.bytes.withUnsafeMutableBytes { bytes in
                bytes.storeBigEndianU32(UInt32(length), at: start)
                bytes.storeBigEndianU32(checksum, at: start + 4)
            }
        }
        try writer.bytes.withUnsafeBytes { bytes in
            var written = 0
            while written < bytes.count {
                let result = pwrite(
                    self.descriptor,
                    bytes.baseAddress! + written,
                    bytes.count - written,
                    off_t(self.size + written)
                )
                if result < 0 {
                    if errno == EINTR { continue }
                    let code = errno
                    _ = ftruncate(self.descriptor, off_t(self.size))
                    throw JournalWriteError(errno: code)
                }
                written += result
            }
            if self.sync, fdatasync(self.descriptor) != 0 {
                let code = errno
                _ = ftruncate(self.descriptor, off_t(self.size))
                throw JournalWriteError(errno: code)
            }
        }
        self.size += writer.bytes.count
        self.lastSequence = first + UInt64(records.count) - 1
        if self.size >= self.segmentBytes { try self.startSegment() }
        return first...self.lastSequence
    }

    /// Deletes the segments whose records are all at or below `appliedSequence` (durably applied), never the
    /// one being written.
    func removeSegments(appliedThrough appliedSequence: UInt64) {
        var removed = false
        while self.segments.count > 1, self.segments[1].firstSequence - 1 <= appliedSequence {
            try? FileManager.default.removeItem(atPath: self.segments[0].path)
            self.segments.removeFirst()
            removed = true
        }
        if removed { try? self.syncDirectory() }
    }
}

/// A journal write or sync failed (a full disk, a file size limit, an I/O error): nothing was acknowledged.
struct JournalWriteError: Error, CustomStringConvertible {
    let errno: Int32

    var isSpaceExhausted: Bool { self.errno == ENOSPC || self.errno == EFBIG || self.errno == EDQUOT }
    var description: String { "journal write failed: \(String(cString: strerror(self.errno)))" }
}

extension UnsafeRawBufferPointer {
    func loadBigEndianU32(at offset: Int) -> UInt32 {
        UInt32(bigEndian: self.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    func loadBigEndianU64(at offset: Int) -> UInt64 {
        UInt64(bigEndian: self.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }
}

extension UnsafeMutableRawBufferPointer {
    func storeBigEndianU32(_ value: UInt32, at offset: Int) {
        self.storeBytes(of: value.bigEndian, toByteOffset: offset, as: UInt32.self)
    }
}
