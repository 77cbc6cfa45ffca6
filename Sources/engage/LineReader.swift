import Foundation

/// Reads a file (or standard input, for "-") line by line with a fixed buffer, so files of any size are
/// read in bounded memory. Lines end with "\n" (a preceding "\r" is dropped).
struct LineReader {
    private let handle: FileHandle
    private var buffer: [UInt8] = []
    private var start = 0
    private var finished = false
    /// 1-based number of the last line returned.
    private(set) var lineNumber = 0
    static let chunkSize = 1 << 20

    init(path: String) throws {
        if path == "-" {
            self.handle = FileHandle.standardInput
        } else {
            guard let handle = FileHandle(forReadingAtPath: path) else {
                throw CLIError("cannot open \(path): no such file, or not readable")
            }
            self.handle = handle
        }
    }

    /// The next line, or nil at the end of the file.
    mutating func next() throws -> String? {
        while true {
            if let newline = self.buffer[self.start...].firstIndex(of: UInt8(ascii: "\n")) {
                var end = newline
                if end > self.start && self.buffer[end - 1] == UInt8(ascii: "\r") { end -= 1 }
                let line = String(decoding: self.buffer[self.start..<end], as: UTF8.self)
                self.start = newline + 1
                self.lineNumber += 1
                return line
            }
            if self.finished {
                guard self.start < self.buffer.count else { return nil }
                let line = String(decoding: self.buffer[self.start...], as: UTF8.self)
                self.start = self.buffer.count
                self.lineNumber += 1
                return line
            }
            self.buffer.removeFirst(self.start)
            self.start = 0
            let data = try self.handle.read(upToCount: LineReader.chunkSize) ?? Data()
            if data.isEmpty { self.finished = true } else { self.buffer.append(contentsOf: data) }
        }
    }
}
