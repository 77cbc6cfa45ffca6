import Foundation

/// The dashboard's files, read from this module's resources (`Dashboard/`; README.md there documents them).
/// `engaged` serves them, `engage report` inlines them. The resource bundle lies beside the executables
/// (`engage_EngageDashboard.resources`); an installation copies it with them.
public enum DashboardFiles {
    /// The files the HTTP API serves, by URL path, with their media type.
    public static let served: [(path: String, file: String, contentType: String)] = [
        ("/", "index.html", "text/html; charset=utf-8"),
        ("/app.js", "app.js", "text/javascript; charset=utf-8"),
        ("/charts.js", "charts.js", "text/javascript; charset=utf-8"),
        ("/style.css", "style.css", "text/css; charset=utf-8"),
    ]

    /// The policy the page is written for: no inline script or style, nothing from elsewhere.
    public static let contentSecurityPolicy =
        "default-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

    public struct MissingFile: Error, CustomStringConvertible {
        public let description: String
        public init(description: String) { self.description = description }
    }

    /// The bytes of `Dashboard/NAME`.
    public static func contents(_ name: String) throws -> [UInt8] {
        guard let url = Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Dashboard"),
            let data = try? Data(contentsOf: url)
        else {
            throw MissingFile(
                description: "the dashboard file \(name) is missing from \(Bundle.module.bundlePath)/Dashboard"
            )
        }
        return Array(data)
    }

    public static func text(_ name: String) throws -> String {
        String(decoding: try self.contents(name), as: UTF8.self)
    }
}

/// The one-file report (`engage report`): `report-template.html` with the stylesheet, the scripts and the
/// data inlined, by the rules of Dashboard/README.md ("The report file").
public enum ReportDocument {
    public static let format = "engage-report/1"

    public struct CannotInline: Error, CustomStringConvertible {
        public let description: String
    }

    /// The report page for `dataJSON` (the data object as JSON text) titled `title`.
    public static func render(title: String, dataJSON: String) throws -> String {
        let css = try DashboardFiles.text("style.css")
        let charts = try DashboardFiles.text("charts.js")
        let app = try DashboardFiles.text("app.js")
        for (name, text, closing) in [
            ("style.css", css, "</style"), ("charts.js", charts, "</script"), ("app.js", app, "</script"),
        ] where text.lowercased().contains(closing) {
            throw CannotInline(description: "\(name) contains '\(closing)' and cannot be inlined")
        }
        let values: [String: String] = [
            "ENGAGE_TITLE": self.escapeHTML(title),
            "ENGAGE_STYLE_CSS": css,
            "ENGAGE_CHARTS_JS": charts,
            "ENGAGE_APP_JS": app,
            "ENGAGE_DATA_JSON": self.scriptSafeJSON(dataJSON),
        ]
        let template = try DashboardFiles.text("report-template.html")
        // One pass over the template's lines, so inlined text is never searched for placeholders again; each
        // placeholder stands alone on its line.
        var output = ""
        var found = Set<String>()
        for line in template.split(separator: "\n", omittingEmptySubsequences: false) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("{{"), trimmed.hasSuffix("}}") {
                let name = String(trimmed.dropFirst(2).dropLast(2))
                if let value = values[name] {
                    output += value + "\n"
                    found.insert(name)
                    continue
                }
            }
            if let start = line.range(of: "{{ENGAGE_TITLE}}") {
                output += line.replacingCharacters(in: start, with: values["ENGAGE_TITLE"]!) + "\n"
                found.insert("ENGAGE_TITLE")
                continue
            }
            output += line + "\n"
        }
        let missing = Set(values.keys).subtracting(found)
        guard missing.isEmpty else {
            throw CannotInline(description: "report-template.html lacks \(missing.sorted().joined(separator: ", "))")
        }
        return String(output.dropLast())
    }

    /// `&`, `<`, `>`, `"` and `'` as entities.
    public static func escapeHTML(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }

    /// JSON with `<`, `>` and `&` as `\u003c`, `\u003e`, `\u0026`: still the same JSON (they can only occur
    /// inside strings), and no `</script>` can end the block early.
    public static func scriptSafeJSON(_ json: String) -> String {
        json.replacingOccurrences(of: "<", with: "\\u003c").replacingOccurrences(of: ">", with: "\\u003e")
            .replacingOccurrences(of: "&", with: "\\u0026")
    }
}
