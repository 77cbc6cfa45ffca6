import EngageTestSupport
import Foundation
import Testing

/// Runs the built executables (`engaged`, `engage`) as a user would.
enum Binaries {
    /// The build's products directory: where the test runner itself lives.
    static let directory: URL = {
        let runner = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var candidate = runner.deletingLastPathComponent()
        // macOS-style bundles nest the runner; walk up until the executables appear.
        for _ in 0..<4 where !FileManager.default.fileExists(atPath: candidate.appendingPathComponent("engaged").path) {
            candidate = candidate.deletingLastPathComponent()
        }
        return candidate
    }()

    static func path(_ name: String) throws -> String {
        let path = self.directory.appendingPathComponent(name).path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw HarnessError("\(name) is not built at \(path): run `swift build` before the tests")
        }
        return path
    }

    static func fixture(_ name: String) -> String { RepositoryPaths.conformanceFile(name) }
}

struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The result of running a command.
struct CommandResult {
    let status: Int32
    let standardOutput: String
    let standardError: String
}

/// Runs `executable` with `arguments` and waits; output goes through files, so nothing can fill a pipe.
func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws -> CommandResult {
    let process = try start(executable, arguments, environment: environment)
    process.process.waitUntilExit()
    return process.result()
}

final class RunningProcess {
    let process: Process
    let outputURL: URL
    let errorURL: URL

    init(process: Process, outputURL: URL, errorURL: URL) {
        self.process = process
        self.outputURL = outputURL
        self.errorURL = errorURL
    }

    func result() -> CommandResult {
        defer {
            try? FileManager.default.removeItem(at: self.outputURL)
            try? FileManager.default.removeItem(at: self.errorURL)
        }
        return CommandResult(
            status: self.process.terminationStatus,
            standardOutput: (try? String(contentsOf: self.outputURL, encoding: .utf8)) ?? "",
            standardError: (try? String(contentsOf: self.errorURL, encoding: .utf8)) ?? ""
        )
    }

    /// Standard error so far (for a process still running).
    var standardErrorSoFar: String { (try? String(contentsOf: self.errorURL, encoding: .utf8)) ?? "" }
}

/// The port `process` writes to `portFile` once it listens (30 s at most); fails at once if the process exits.
func waitForPortFile(_ portFile: String, of process: RunningProcess, listeningFor what: String) throws -> Int {
    let deadline = Date().addingTimeInterval(30)
    while Date() < deadline {
        if let text = try? String(contentsOfFile: portFile, encoding: .utf8),
            let port = Int(text.trimmingCharacters(in: .whitespacesAndNewlines))
        {
            return port
        }
        if !process.process.isRunning {
            throw HarnessError(
                "engaged exited with \(process.process.terminationStatus): \(process.result().standardError)"
            )
        }
        Thread.sleep(forTimeInterval: 0.02)
    }
    throw HarnessError("engaged did not \(what) within 30 s")
}

func start(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws -> RunningProcess {
    let process = Process()
    if executable.contains("/") || ["engaged", "engage", "engage-load"].contains(executable) {
        process.executableURL = URL(
            fileURLWithPath: executable.contains("/") ? executable : try Binaries.path(executable)
        )
    } else {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [executable]
    }
    process.arguments = (process.arguments ?? []) + arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let base = NSTemporaryDirectory() + "engage-run-" + UUID().uuidString
    let outputURL = URL(fileURLWithPath: base + ".out")
    let errorURL = URL(fileURLWithPath: base + ".err")
    _ = FileManager.default.createFile(atPath: outputURL.path, contents: nil)
    _ = FileManager.default.createFile(atPath: errorURL.path, contents: nil)
    process.standardOutput = try FileHandle(forWritingTo: outputURL)
    process.standardError = try FileHandle(forWritingTo: errorURL)
    try process.run()
    return RunningProcess(process: process, outputURL: outputURL, errorURL: errorURL)
}

/// An `engaged` on 127.0.0.1 and a free port, with its own data directory.
final class ServerProcess {
    let dataDirectory: String
    private(set) var running: RunningProcess?
    private(set) var port = 0
    private let ownsDirectory: Bool

    var address: String { "127.0.0.1:\(self.port)" }

    init(dataDirectory: String? = nil) {
        self.ownsDirectory = dataDirectory == nil
        self.dataDirectory = dataDirectory ?? NSTemporaryDirectory() + "engage-it-" + UUID().uuidString
    }

    deinit {
        if let running, running.process.isRunning {
            running.process.terminate()
            running.process.waitUntilExit()
        }
        if self.ownsDirectory { try? FileManager.default.removeItem(atPath: self.dataDirectory) }
    }

    /// Starts the server and waits until it listens.
    func start(_ arguments: [String] = [], environment: [String: String] = [:]) throws {
        let portFile = NSTemporaryDirectory() + "engage-port-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: portFile) }
        let running = try EngageIntegrationTests.start(
            "engaged",
            ["--data", self.dataDirectory, "--port", "0", "--port-file", portFile, "--log-level", "warning"]
                + arguments,
            environment: environment
        )
        self.running = running
        self.port = try waitForPortFile(portFile, of: running, listeningFor: "start listening")
    }

    /// Sends SIGTERM and waits; returns the exit status and standard error.
    @discardableResult
    func stop() -> CommandResult? {
        guard let running else { return nil }
        if running.process.isRunning { running.process.terminate() }
        running.process.waitUntilExit()
        self.running = nil
        return running.result()
    }

    /// Runs `engage` against this server.
    func cli(_ arguments: [String]) throws -> CommandResult {
        try run("engage", arguments, environment: ["ENGAGE_SERVER": self.address])
    }

    /// Runs `engage ... --format json` and parses the output.
    func cliJSON(_ arguments: [String]) throws -> [String: Any] {
        let result = try self.cli(arguments + ["--format", "json"])
        guard result.status == 0 else {
            throw HarnessError(
                "engage \(arguments.joined(separator: " ")) exited \(result.status): \(result.standardError)"
            )
        }
        guard let object = try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any]
        else {
            throw HarnessError("not a JSON object: \(result.standardOutput.prefix(200))")
        }
        return object
    }
}

extension ServerProcess {
    /// `engage export TABLE ... --format jsonl`, parsed line by line.
    func exportRows(_ arguments: [String]) throws -> [[String: Any]] {
        let result = try self.cli(["export"] + arguments + ["--format", "jsonl"])
        guard result.status == 0 else {
            throw HarnessError("engage export exited \(result.status): \(result.standardError)")
        }
        return try result.standardOutput.split(separator: "\n").map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
        }
    }
}

func rows(_ object: [String: Any]) -> [[String: Any]] {
    object["rows"] as? [[String: Any]] ?? []
}

/// Compares rows field by field (numbers as doubles, everything else as text); returns the first mismatch.
func compareRows(_ actual: [[String: Any]], _ expected: [[String: Any]], keys: [String]) -> String? {
    guard actual.count == expected.count else { return "\(actual.count) rows, expected \(expected.count)" }
    for (index, (got, want)) in zip(actual, expected).enumerated() {
        for key in keys {
            let left = got[key]
            let right = want[key]
            if let l = left as? NSNumber, let r = right as? NSNumber, !(left is String) {
                if l.doubleValue != r.doubleValue { return "row \(index) \(key): \(l) != \(r) (\(want))" }
            } else if "\(left ?? "nil")" != "\(right ?? "nil")" {
                return "row \(index) \(key): \(left ?? "nil") != \(right ?? "nil")"
            }
        }
    }
    return nil
}
