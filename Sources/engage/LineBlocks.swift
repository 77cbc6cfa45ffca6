import Foundation

/// Complete lines read from a file, with the number of the first one: the unit `engage import` parses on
/// several cores at once.
struct LineBlock: Sendable {
    /// The block's bytes; `lines` are ranges into it (without the newline and a preceding "\r").
    let bytes: [UInt8]
    let lines: [Range<Int>]
    /// 1-based number of the first line.
    let firstLineNumber: Int
    /// Lines dropped for being longer than the limit, by number (their bytes were never kept).
    let oversizedLines: [Int]
    /// Bytes of the file consumed so far, up to the end of this block.
    let bytesThrough: Int
}

/// Reads a file (or standard input, for "-") in blocks of whole lines, in bounded memory whatever the file
/// holds: a line longer than `maximumLineBytes` is not buffered but skipped to its end and reported by number.
struct LineBlockReader {
    private let descriptor: Int32
    private let ownsDescriptor: Bool
    private var pending: [UInt8] = []
    private var skippingOversizedLine = false
    private var nextLineNumber = 1
    private var consumed = 0
    private var finished = false
    /// The file's size, when it is a regular file (for progress); nil for pipes.
    let size: Int?
    let maximumLineBytes: Int
    static let blockBytes = 1 << 20

    init(path: String, maximumLineBytes: Int) throws {
        self.maximumLineBytes = maximumLineBytes
        if path == "-" {
            self.descriptor = 0
            self.ownsDescriptor = false
        } else {
            let descriptor = open(path, O_RDONLY | O_CLOEXEC)
            guard descriptor >= 0 else {
                throw CLIError("cannot open \(path): \(String(cString: strerror(errno)))")
            }
            self.descriptor = descriptor
            self.ownsDescriptor = true
        }
        var status = stat()
        if fstat(self.descriptor, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG {
            self.size = Int(status.st_size)
        } else {
            self.size = nil
        }
    }

    func close() {
        if self.ownsDescriptor { _ = Foundation.close(self.descriptor) }
    }

    /// The next block of complete lines (at least one line or one oversized-line report), or nil at the end.
    mutating func next() throws -> LineBlock? {
        var oversized: [Int] = []
        let firstLine = self.nextLineNumber
        while true {
            if let lastNewline = self.pending.lastIndex(of: UInt8(ascii: "\n")) {
                let bytes = Array(self.pending[...lastNewline])
                self.pending.removeFirst(lastNewline + 1)
                return self.block(bytes, complete: true, firstLine: firstLine, oversized: oversized)
            }
            if self.finished {
                guard !self.pending.isEmpty || !oversized.isEmpty else { return nil }
                let bytes = self.pending
                self.pending = []
                return self.block(bytes, complete: false, firstLine: firstLine, oversized: oversized)
            }
            if self.pending.count > self.maximumLineBytes {
                // No newline within the limit: this line is dropped, and read past without being kept.
                oversized.append(self.nextLineNumber)
                self.nextLineNumber += 1
                self.pending = []
                self.skippingOversizedLine = true
            }
            var count = 0
            var readError: Int32 = 0
            // Uninitialized: zero-filling a megabyte per block only to overwrite it showed in profiles.
            let chunk = [UInt8](unsafeUninitializedCapacity: Self.blockBytes) { buffer, initialized in
                count = read(self.descriptor, buffer.baseAddress, buffer.count)
                readError = errno
                initialized = max(count, 0)
            }
            if count < 0 {
                if readError == EINTR { continue }
                throw CLIError("cannot read: \(String(cString: strerror(readError)))")
            }
            if count == 0 {
                self.finished = true
                continue
            }
            self.consumed += count
            var slice = chunk[0..<count]
            if self.skippingOversizedLine {
                guard let newline = slice.firstIndex(of: UInt8(ascii: "\n")) else { continue }
                slice = slice[(newline + 1)...]
                self.skippingOversizedLine = false
            }
            self.pending.append(contentsOf: slice)
        }
    }

    private mutating func block(_ bytes: [UInt8], complete: Bool, firstLine: Int, oversized: [Int]) -> LineBlock {
        var lines: [Range<Int>] = []
        var start = 0
        var lineNumber = firstLine
        // Oversized lines were numbered when met; the kept lines of this block come after them.
        lineNumber += oversized.count
        let firstKept = lineNumber
        bytes.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            guard let base = raw.baseAddress else { return }
            while start < raw.count {
                // memchr: the generic firstIndex(of:) was most of this serial step's time.
                var end = raw.count
                if let found = memchr(base + start, 0x0A, raw.count - start) {
                    end = UnsafeRawPointer(found) - base
                }
                var lineEnd = end
                if lineEnd > start && raw[lineEnd - 1] == UInt8(ascii: "\r") { lineEnd -= 1 }
                lines.append(start..<lineEnd)
                lineNumber += 1
                start = end + 1
            }
        }
        self.nextLineNumber = lineNumber
        return LineBlock(
            bytes: bytes,
            lines: lines,
            firstLineNumber: firstKept,
            oversizedLines: oversized,
            bytesThrough: self.consumed - self.pending.count
        )
    }
}
