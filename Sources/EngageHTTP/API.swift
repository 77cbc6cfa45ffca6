import CoreMetrics
import EngageDashboard
import EngageJSONLines
import EngageModel
import EngageOutput
import EngageProtocol
import EngageServer
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOConcurrencyHelpers
import NIOCore

typealias HTTPAnswer = HummingbirdCore.Response

/// The routes of the API and what each does. `routes` is the list `openapi.yaml` must describe (checked by
/// `HTTPAPITests`).
struct API: Sendable {
    let configuration: HTTPConfiguration
    let handler: RequestHandler
    let timeZone: String
    let files: StaticFiles
    let metrics = ServerMetrics()
    let inFlight = NIOLockedValueBox(0)

    /// Every route: method, path template (OpenAPI syntax), and the role it needs (nil: none).
    static let routes: [(method: HTTPRequest.Method, path: String, role: Role?)] =
        DashboardFiles.served.map { (.get, $0.path, nil) } + [
            (.get, "/openapi.yaml", nil),
            (.get, "/v1/stats", .query),
            (.get, "/v1/query/{name}", .query),
            (.post, "/v1/events", .ingest),
            (.post, "/v1/users", .ingest),
            (.post, "/v1/actions", .ingest),
        ]

    func register(on router: Router<BasicRequestContext>) {
        for file in self.files.files {
            router.get(RouterPath(file.path)) { _, _ in file.answer }
        }
        router.get("/v1/stats") { request, _ in
            try await self.limited {
                try self.authorize(request, .query)
                return try await self.query(APIQuery(name: "stats", try QueryParameters(request.uri.query)))
            }
        }
        router.get("/v1/query/{name}") { request, context in
            try await self.limited {
                try self.authorize(request, .query)
                let name = context.parameters.get("name") ?? ""
                return try await self.query(APIQuery(name: name, try QueryParameters(request.uri.query)))
            }
        }
        for kind in ImportKind.allCases {
            router.post(RouterPath("/v1/\(kind.rawValue)")) { request, _ in
                try await self.limited {
                    try self.authorize(request, .ingest)
                    return try await self.importRecords(kind, request)
                }
            }
        }
    }

    // MARK: - Authorization and limits

    /// `Authorization: Bearer TOKEN` with the binary protocol's tokens and roles (`admin` may do everything).
    /// Read by hand: hummingbird-auth's authenticator middleware would bring its own package graph for one
    /// header, while the roles and the constant-time comparison are the binary server's ``TokenTable``.
    func authorize(_ request: Request, _ role: Role) throws(Problem) {
        guard let tokens = self.configuration.tokens else { return }
        var problem: Problem
        if let header = request.headers[.authorization] {
            let parts = header.split(separator: " ", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "bearer",
                let roles = tokens.roles(of: parts[1].trimmingCharacters(in: .whitespaces))
            {
                if roles.contains(role) || roles.contains(.admin) { return }
                problem = Problem(
                    .forbidden,
                    .forbidden,
                    title: "Forbidden",
                    detail: "this token's roles (\(roles.map(\.rawValue).sorted().joined(separator: ", "))) "
                        + "do not include \(role.rawValue)"
                )
                throw problem
            }
            problem = Problem(
                .unauthorized,
                .unauthenticated,
                title: "Unauthenticated",
                detail: parts.count == 2 && parts[0].lowercased() == "bearer"
                    ? "unknown token" : "the Authorization header is not 'Bearer TOKEN'"
            )
        } else {
            problem = Problem(
                .unauthorized,
                .unauthenticated,
                title: "Unauthenticated",
                detail: "this server needs a token: send Authorization: Bearer TOKEN"
            )
        }
        problem.headers[.wwwAuthenticate] = "Bearer realm=\"engage\""
        throw problem
    }

    /// Runs `body` unless `maximumConcurrentRequests` requests are already being carried out; then answers
    /// 429 `too_many_in_flight` at once (the binary protocol's answer to too many requests in flight).
    func limited(_ body: () async throws -> HTTPAnswer) async throws -> HTTPAnswer {
        let limit = self.configuration.maximumConcurrentRequests
        let admitted = self.inFlight.withLockedValue { count in
            guard count < limit else { return false }
            count += 1
            return true
        }
        guard admitted else {
            var problem = Problem(
                .tooManyRequests,
                .tooManyInFlight,
                title: "Too many requests",
                detail: "\(limit) requests are being carried out; try again shortly"
            )
            problem.headers[.retryAfter] = "1"
            throw problem
        }
        defer { self.inFlight.withLockedValue { $0 -= 1 } }
        return try await body()
    }

    // MARK: - Queries

    /// The command as the binary server receives it: encoded and decoded by the protocol, so that every check
    /// of the wire (the date domain, string lengths, field values) applies to HTTP requests as well, and a
    /// request the binary protocol could not carry is refused here as it would be there.
    static func throughWire(_ command: Command) throws(Problem) -> Command {
        let frame = EngageProtocol.Request.command(command).encode(requestID: 0)
        do throws(ProtocolError) {
            guard case .command(let decoded) = try EngageProtocol.Request.decode(frame) else {
                throw ProtocolError(.internalError, "a command did not decode as a command")
            }
            return decoded
        } catch {
            throw Problem.from(error)
        }
    }

    func query(_ query: APIQuery) async throws -> HTTPAnswer {
        let started = NIODeadline.now()
        let command = try Self.throughWire(query.command)
        let response = await self.handler.handle(command)
        self.metrics.record(
            command,
            response,
            nanoseconds: (NIODeadline.now() - started).nanoseconds
        )
        if case .error(let message) = response { throw Problem.from(message.error) }
        let body = try query.render(response, self.timeZone) + "\n"
        return Self.answer(.ok, contentType: "application/json", body: body)
    }

    // MARK: - Imports

    enum ImportKind: String, CaseIterable, Sendable {
        case events, users, actions
    }

    /// A JSON array or JSON lines of import records: each item read as `engage import` reads a line, the good
    /// ones sent as one batch through the binary protocol's request (durable when it answers), the answer
    /// listing every rejected item with its index (and line) and reason.
    func importRecords(_ kind: ImportKind, _ request: Request) async throws -> HTTPAnswer {
        let maximum = self.configuration.maximumBodyBytes
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > maximum {
            throw Self.bodyTooLarge(maximum)
        }
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: maximum)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw Self.bodyTooLarge(maximum)
        }
        // Read in place: the body is up to maximumBodyBytes, no copy needed.
        let parsed = body.withUnsafeReadableBytes { raw in Self.decode(kind, raw) }
        let (command, positions, items) = try parsed.get()
        guard items.count <= self.configuration.maximumBatchItems else {
            throw Problem.from(
                ProtocolError(
                    .tooManyItems,
                    "the body holds \(items.count) records; at most \(self.configuration.maximumBatchItems) in one request"
                )
            )
        }
        var rejections = parsed.rejections
        var accepted = 0
        var duplicates = 0
        if let command = try command.map(Self.throughWire) {
            let started = NIODeadline.now()
            let response = await self.handler.handle(command)
            self.metrics.record(command, response, nanoseconds: (NIODeadline.now() - started).nanoseconds)
            let result: BatchResult
            switch response {
            case .ingestResult(let message): result = message.result
            case .upsertUsersResult(let message): result = message.result
            case .defineActionsResult(let message): result = message.result
            case .error(let message): throw Problem.from(message.error)
            default: throw APIQuery.unexpected(response)
            }
            // Acknowledged writes are journaled (durable) and applied to what queries read within the
            // visibility lag; a client's next GET should see what its POST stored, so the answer waits for
            // that too, as `engage import` does with WAIT_APPLIED before it reads back.
            if result.accepted > 0, case .error(let message) = await self.handler.handle(.waitApplied(WaitApplied())) {
                throw Problem.from(message.error)
            }
            accepted = result.accepted
            duplicates = result.duplicates
            for rejection in result.rejected {
                let index = positions[rejection.index]
                rejections.append(
                    ItemRejection(
                        index: index,
                        line: items[index].line,
                        reason: rejection.reason.name,
                        detail: rejection.reason.explanation
                    )
                )
            }
        }
        rejections.sort { $0.index < $1.index }
        var text = "{\"kind\": \(Value.quote(kind.rawValue)), \"items\": \(items.count), \"accepted\": \(accepted), "
        text += "\"duplicates\": \(duplicates), \"rejected\": \(rejections.count), \"rejections\": ["
        text += rejections.map { "\n  " + $0.json }.joined(separator: ",")
        text += rejections.isEmpty ? "]}\n" : "\n]}\n"
        return Self.answer(.ok, contentType: "application/json", body: text)
    }

    struct ItemRejection {
        var index: Int
        var line: Int?
        var reason: String
        var detail: String

        var json: String {
            "{\"index\": \(self.index), \"line\": \(self.line.map(String.init) ?? "null"), "
                + "\"reason\": \(Value.quote(self.reason)), \"detail\": \(Value.quote(self.detail))}"
        }
    }

    struct Decoded {
        var result: Result<(Command?, [Int], [ImportBody.Item]), Problem>
        var rejections: [ItemRejection] = []
        func get() throws(Problem) -> (Command?, [Int], [ImportBody.Item]) { try self.result.get() }
    }

    /// The body's records as one request (nil when none is good), the item index of each record in it, the
    /// items, and the items that are not records.
    static func decode(_ kind: ImportKind, _ body: UnsafeRawBufferPointer) -> Decoded {
        let items: [ImportBody.Item]
        switch ImportBody.items(body) {
        case .success(let found): items = found
        case .failure(let error):
            return Decoded(result: .failure(Problem.invalidField("\(error.reason): \(error.detail)")))
        }
        var rejections: [ItemRejection] = []
        var positions: [Int] = []
        func collect<Record>(_ decode: (UnsafeRawBufferPointer) -> Result<Record, LineError>) -> [Record] {
            var records: [Record] = []
            for (index, item) in items.enumerated() {
                switch decode(UnsafeRawBufferPointer(rebasing: body[item.range])) {
                case .success(let record):
                    records.append(record)
                    positions.append(index)
                case .failure(let error):
                    rejections.append(
                        ItemRejection(index: index, line: item.line, reason: error.reason, detail: error.detail)
                    )
                }
            }
            return records
        }
        let command: Command?
        switch kind {
        case .events:
            let events = collect(ImportRecords.event)
            command = events.isEmpty ? nil : .ingestEvents(IngestEvents(IngestBatch(events: events)))
        case .users:
            let users = collect(ImportRecords.user)
            command = users.isEmpty ? nil : .upsertUsers(UpsertUsers(users))
        case .actions:
            let actions = collect(ImportRecords.action)
            command = actions.isEmpty ? nil : .defineActions(DefineActions(actions))
        }
        return Decoded(result: .success((command, positions, items)), rejections: rejections)
    }

    static func bodyTooLarge(_ maximum: Int) -> Problem {
        Problem.from(
            ProtocolError(.frameTooLarge, "the request body is larger than \(maximum) bytes (--http-max-body-bytes)")
        )
    }

    static func answer(_ status: HTTPResponse.Status, contentType: String, body: String) -> HTTPAnswer {
        var headers = HTTPFields()
        headers[.contentType] = contentType
        headers[.cacheControl] = "no-store"
        return HTTPAnswer(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
    }
}

/// The dashboard's files and the OpenAPI document, read once at start-up and answered from memory.
struct StaticFiles: Sendable {
    struct File: Sendable {
        let path: String
        let answer: HTTPAnswer
    }

    let files: [File]

    static func load() throws -> StaticFiles {
        var files: [File] = []
        for served in DashboardFiles.served {
            var headers = HTTPFields()
            headers[.contentType] = served.contentType
            headers[.cacheControl] = "no-cache"
            headers[.contentSecurityPolicy] = DashboardFiles.contentSecurityPolicy
            headers[.xContentTypeOptions] = "nosniff"
            headers[.referrerPolicy] = "no-referrer"
            let bytes = try DashboardFiles.contents(served.file)
            files.append(
                File(
                    path: served.path,
                    answer: HTTPAnswer(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
                )
            )
        }
        var headers = HTTPFields()
        headers[.contentType] = "application/yaml"
        headers[.cacheControl] = "no-cache"
        files.append(
            File(
                path: "/openapi.yaml",
                answer: HTTPAnswer(
                    status: .ok,
                    headers: headers,
                    body: .init(byteBuffer: ByteBuffer(bytes: try OpenAPIDocument.contents()))
                )
            )
        )
        return StaticFiles(files: files)
    }
}

/// `openapi.yaml`, this module's resource: the API's description, served at `/openapi.yaml`.
public enum OpenAPIDocument {
    public static func contents() throws -> [UInt8] {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "yaml"),
            let data = try? Data(contentsOf: url)
        else {
            throw DashboardFiles.MissingFile(description: "openapi.yaml is missing from \(Bundle.module.bundlePath)")
        }
        return Array(data)
    }
}

extension HTTPField.Name {
    static let xContentTypeOptions = HTTPField.Name("X-Content-Type-Options")!
    static let referrerPolicy = HTTPField.Name("Referrer-Policy")!
}

/// Turns every refusal into `application/problem+json`: the API's own (``Problem``), the router's "no such
/// route" (404, or 405 with `Allow` when the path exists with other methods), and anything unexpected (500,
/// logged). Counts each request by route and status (`engage_http_requests_total`) and times it
/// (`engage_http_request_duration_seconds`) — by hand rather than with Hummingbird's `MetricsMiddleware`,
/// whose `hb_` names and path labels would not match the rest of `/metrics`, and whose route label is not
/// the query name.
struct ProblemMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext
    let api: API

    func handle(
        _ request: Request,
        context: BasicRequestContext,
        next: (Request, BasicRequestContext) async throws -> HTTPAnswer
    ) async throws -> HTTPAnswer {
        let started = NIODeadline.now()
        var answer: HTTPAnswer
        do {
            answer = try await next(request, context)
        } catch let problem as Problem {
            answer = Self.answer(problem)
        } catch let error as HTTPError where error.status == .notFound {
            answer = Self.answer(Self.unrouted(request))
        } catch let error as HTTPError {
            answer = Self.answer(
                Problem(
                    error.status,
                    httpCode: "http_error",
                    title: error.status.reasonPhrase,
                    detail: error.body ?? ""
                )
            )
        } catch {
            context.logger.error("HTTP request failed", metadata: ["error": "\(error)"])
            answer = Self.answer(
                Problem(.internalServerError, .internalError, title: "Internal error", detail: "\(error)")
            )
        }
        let route = Self.routeLabel(request.uri.path)
        Counter(
            label: "engage_http_requests_total",
            dimensions: [
                ("method", request.method.rawValue), ("route", route), ("status", String(answer.status.code)),
            ]
        ).increment()
        Timer(label: "engage_http_request_duration_seconds", dimensions: [("route", route)])
            .recordNanoseconds((NIODeadline.now() - started).nanoseconds)
        return answer
    }

    /// The route as a metrics label: a known path or query, else `other` (no label per unknown path).
    static func routeLabel(_ path: String) -> String {
        if path.hasPrefix("/v1/query/"), APIQuery.names.contains(String(path.dropFirst("/v1/query/".count))) {
            return path
        }
        return API.routes.contains { $0.path == path } ? path : "other"
    }

    static func unrouted(_ request: Request) -> Problem {
        let path = request.uri.path
        let methods = API.routes.filter { route in
            route.path == path || (route.path == "/v1/query/{name}" && path.hasPrefix("/v1/query/"))
        }.map(\.method.rawValue)
        guard methods.isEmpty else {
            var problem = Problem(
                .methodNotAllowed,
                httpCode: "method_not_allowed",
                title: "Method not allowed",
                detail: "\(request.method.rawValue) \(path) is not served; use \(methods.joined(separator: ", "))"
            )
            problem.headers[.allow] = methods.joined(separator: ", ")
            return problem
        }
        return Problem.notFound("nothing at \(path); the API is described at /openapi.yaml")
    }

    static func answer(_ problem: Problem) -> HTTPAnswer {
        var headers = problem.headers
        headers[.contentType] = "application/problem+json"
        headers[.cacheControl] = "no-store"
        return HTTPAnswer(
            status: problem.status,
            headers: headers,
            body: ResponseBody(byteBuffer: ByteBuffer(string: problem.json))
        )
    }
}
