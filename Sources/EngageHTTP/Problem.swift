import EngageOutput
import EngageProtocol
import HTTPTypes

/// An error answer of the HTTP API: RFC 9457 `application/problem+json` with the binary protocol's error code
/// (`code`, its name, and `protocol_code`, its number) so that a client of either door acts on the same
/// codes. A few refusals exist only in HTTP (`not_found`, `method_not_allowed`); they have no number.
public struct Problem: Error, Sendable, CustomStringConvertible {
    public var status: HTTPResponse.Status
    /// The protocol's code name, or an HTTP-only name.
    public var code: String
    public var protocolCode: UInt16?
    public var title: String
    public var detail: String
    /// Extra headers (`WWW-Authenticate`, `Allow`, `Retry-After`).
    public var headers: HTTPFields = [:]

    public init(_ status: HTTPResponse.Status, _ code: ErrorCode, title: String, detail: String) {
        self.status = status
        self.code = code.name
        self.protocolCode = code.rawValue
        self.title = title
        self.detail = detail
    }

    public init(_ status: HTTPResponse.Status, httpCode: String, title: String, detail: String) {
        self.status = status
        self.code = httpCode
        self.protocolCode = nil
        self.title = title
        self.detail = detail
    }

    public var description: String { "\(self.status.code) \(self.code): \(self.detail)" }

    /// `{"type", "title", "status", "detail", "code", "protocol_code"}`.
    public var json: String {
        var text = "{\"type\": \(Value.quote("urn:engage:error:" + self.code)), \"title\": \(Value.quote(self.title)), "
        text += "\"status\": \(self.status.code), \"detail\": \(Value.quote(self.detail)), "
        text += "\"code\": \(Value.quote(self.code))"
        if let number = self.protocolCode { text += ", \"protocol_code\": \(number)" }
        return text + "}\n"
    }

    // MARK: - The refusals of the API

    static func invalidQuery(_ detail: String) -> Problem {
        Problem(.badRequest, .invalidQuery, title: "Invalid query", detail: detail)
    }

    static func invalidField(_ detail: String) -> Problem {
        Problem(.badRequest, .invalidField, title: "Invalid request body", detail: detail)
    }

    static func notFound(_ detail: String) -> Problem {
        Problem(.notFound, httpCode: "not_found", title: "Not found", detail: detail)
    }

    /// A protocol error of the store or the request handler, with the HTTP status that fits it.
    static func from(_ error: ProtocolError) -> Problem {
        let status: HTTPResponse.Status
        let title: String
        switch error.code {
        case .invalidQuery, .invalidCursor:
            (status, title) = (.badRequest, "Invalid query")
        case .invalidField, .invalidUTF8:
            (status, title) = (.badRequest, "Invalid request")
        case .unauthenticated: (status, title) = (.unauthorized, "Unauthenticated")
        case .forbidden: (status, title) = (.forbidden, "Forbidden")
        case .tooManyItems, .frameTooLarge: (status, title) = (.contentTooLarge, "Request too large")
        case .tooManyInFlight: (status, title) = (.tooManyRequests, "Too many requests")
        case .storageFull:
            (status, title) = (HTTPResponse.Status(code: 507, reasonPhrase: "Insufficient Storage"), "Storage full")
        case .shuttingDown: (status, title) = (.serviceUnavailable, "Shutting down")
        default: (status, title) = (.internalServerError, "Internal error")
        }
        return Problem(status, error.code, title: title, detail: error.message)
    }
}
