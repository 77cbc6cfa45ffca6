import EngageTestSupport
import Foundation
import Testing

/// The README's flag tables against the programs' own `--help`, so that they cannot drift apart: every flag a
/// command accepts is in its table and every flag in the table exists, and where `--help` states a default
/// the table states the same value.
///
/// A table follows a marker `<!-- flags: PROGRAM [SUBCOMMAND...] -->`; `*` as the last word means every
/// subcommand of the command before it. A row "connection options" stands for the options every client
/// command shares.
@Suite("README flag tables match --help")
struct ReadmeFlagsTests {
    struct Table {
        let command: [String]
        /// Flag -> the backticked defaults of its row.
        var rows: [String: [String]] = [:]
    }

    struct HelpOption {
        let flag: String
        let defaultValue: String?
    }

    static let connectionOptions = ["--server", "--token", "--token-file", "--tls", "--tls-ca", "--tls-server-name"]

    static func tables() throws -> [Table] {
        let text = try String(contentsOf: RepositoryPaths.root.appendingPathComponent("README.md"), encoding: .utf8)
        let lines = text.components(separatedBy: "\n")
        var tables: [Table] = []
        for (index, line) in lines.enumerated() {
            guard line.hasPrefix("<!-- flags: "), line.hasSuffix(" -->") else { continue }
            let command = line.dropFirst("<!-- flags: ".count).dropLast(" -->".count).split(separator: " ").map(
                String.init
            )
            var table = Table(command: command)
            for row in lines[(index + 1)...].dropFirst(2) {
                guard row.hasPrefix("|") else { break }
                let cells = row.split(separator: "|", omittingEmptySubsequences: false).map {
                    $0.trimmingCharacters(in: .whitespaces)
                }
                guard cells.count >= 3 else { continue }
                let defaults = Self.backticked(cells[2])
                if cells[1] == "connection options" {
                    let shared =
                        command[0] == "engage" ? Self.connectionOptions + ["--verbose"] : Self.connectionOptions
                    for flag in shared { table.rows[flag] = table.rows[flag] ?? [] }
                    continue
                }
                for flag in Self.backticked(cells[1]).compactMap({ $0.split(separator: " ").first.map(String.init) })
                where flag.hasPrefix("--") {
                    table.rows[flag] = defaults
                }
            }
            tables.append(table)
        }
        return tables
    }

    static func backticked(_ text: String) -> [String] {
        text.components(separatedBy: "`").enumerated().filter { $0.offset % 2 == 1 }.map(\.element)
    }

    /// The long options of `--help` and the defaults it prints.
    static func helpOptions(_ command: [String]) throws -> [HelpOption] {
        let result = try run(command[0], Array(command.dropFirst()) + ["--help"])
        guard result.status == 0 else { throw HarnessError("\(command) --help exited \(result.status)") }
        var options: [(flag: String, text: String)] = []
        var inOptions = false
        for line in result.standardOutput.components(separatedBy: "\n") {
            if line.hasPrefix("OPTIONS:") {
                inOptions = true
                continue
            }
            guard inOptions else { continue }
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if let match = trimmed.range(of: #"^(-\w, )?--[a-z0-9-]+"#, options: .regularExpression),
                line.hasPrefix("  ") && !line.hasPrefix("      ")
            {
                let flag = String(trimmed[match]).components(separatedBy: ", ").last!
                options.append((flag, trimmed))
            } else if !options.isEmpty {
                options[options.count - 1].text += " " + trimmed
            }
        }
        return options.filter { $0.flag != "--help" && $0.flag != "--version" }.map { option in
            let value = option.text.range(of: #"default: ([^)]+)\)"#, options: .regularExpression).map {
                String(option.text[$0].dropFirst("default: ".count).dropLast())
            }
            return HelpOption(flag: option.flag, defaultValue: value)
        }
    }

    static func subcommands(_ command: [String]) throws -> [String] {
        let result = try run(command[0], Array(command.dropFirst()) + ["--help"])
        var names: [String] = []
        var inList = false
        for line in result.standardOutput.components(separatedBy: "\n") {
            if line.hasPrefix("SUBCOMMANDS:") {
                inList = true
                continue
            }
            if inList, line.hasPrefix("  "), !line.hasPrefix("      "), let name = line.split(separator: " ").first {
                names.append(String(name))
            }
        }
        return names.filter { $0 != "help" }
    }

    @Test("every flag table in the README lists exactly the command's flags, with the defaults --help prints")
    func tablesMatchHelp() throws {
        let tables = try Self.tables()
        #expect(tables.count >= 7, "flag tables found: \(tables.map(\.command))")
        for table in tables {
            var commands = [table.command]
            if table.command.last == "*" {
                let parent = Array(table.command.dropLast())
                commands = try Self.subcommands(parent).map { parent + [$0] }
                #expect(commands.count >= 10)
            }
            var helpFlags: [String: String?] = [:]
            for command in commands {
                for option in try Self.helpOptions(command) { helpFlags[option.flag] = option.defaultValue }
            }
            let name = table.command.joined(separator: " ")
            #expect(
                Set(helpFlags.keys).subtracting(table.rows.keys).isEmpty,
                "\(name): not in the README: \(Set(helpFlags.keys).subtracting(table.rows.keys).sorted())"
            )
            #expect(
                Set(table.rows.keys).subtracting(helpFlags.keys).isEmpty,
                "\(name): in the README but not accepted: \(Set(table.rows.keys).subtracting(helpFlags.keys).sorted())"
            )
            for (flag, value) in helpFlags {
                guard let value, let documented = table.rows[flag],
                    !Self.connectionOptions.contains(flag) || !documented.isEmpty
                else { continue }
                for part in value.components(separatedBy: ", else ") {
                    #expect(
                        documented.contains(part),
                        "\(name) \(flag): --help says the default is \(value), the README says \(documented)"
                    )
                }
            }
        }
    }
}
