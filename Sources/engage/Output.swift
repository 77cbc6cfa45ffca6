import ArgumentParser
import EngageOutput
import Foundation

/// The output formats of queries, stats and admin commands.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table, json, csv
}

extension Report {
    func print(_ format: OutputFormat) throws {
        switch format {
        case .json: try StandardOutput.write(self.render(.json) + "\n")
        case .csv: try StandardOutput.write(self.render(.csv) + "\n")
        case .table: try StandardOutput.write(self.render(.table) + "\n")
        }
    }
}

/// Standard output and standard error without Foundation's `FileHandle.write`, which traps when the reader
/// has gone (EPIPE) — `engage export events | head -1` must end quietly, not with a backtrace.
enum StandardOutput {
    /// The exit status when standard output was closed by its reader: 128 + SIGPIPE, what a shell reports
    /// for any Unix tool that `head` stops early.
    static let closedPipeStatus: Int32 = 141

    /// Writes `text` to standard output; when the reader is gone, throws `ExitCode(141)` (printed as nothing).
    static func write(_ text: String) throws {
        guard Self.write(Array(text.utf8), to: 1) else { throw ExitCode(Self.closedPipeStatus) }
    }

    static func write(bytes: [UInt8]) throws {
        guard Self.write(bytes, to: 1) else { throw ExitCode(Self.closedPipeStatus) }
    }

    /// Writes all of `bytes` to `descriptor`; false when the reader is gone or the write failed.
    static func write(_ bytes: [UInt8], to descriptor: Int32) -> Bool {
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let written = Foundation.write(descriptor, raw.baseAddress! + offset, raw.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    return false
                }
                offset += written
            }
            return true
        }
    }
}

enum StandardError {
    /// One line on standard error; a closed standard error is ignored.
    static func write(_ text: String) {
        _ = StandardOutput.write(Array((text + "\n").utf8), to: 2)
    }

    /// Text without a newline (progress lines that redraw themselves).
    static func writeRaw(_ text: String) {
        _ = StandardOutput.write(Array(text.utf8), to: 2)
    }

    static var isTerminal: Bool { isatty(2) == 1 }
}
