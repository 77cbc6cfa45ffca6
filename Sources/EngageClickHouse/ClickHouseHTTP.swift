import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// One ClickHouse server's HTTP interface (`http://host:port/`), over NIOHTTP1 with kept-alive connections.
/// Works with Debian's 18.16 and with current servers. Queries go in the body (or, with data, in the URL's
/// `query` parameter); settings go in the URL, which 18.16 requires for `INSERT ... FORMAT`.
public final class ClickHouseHTTP: Sendable {
    public let url: String
    let host: String
    let port: Int
    let user: String?
    let password: String?
    let requestTimeout: TimeAmount
    let group: any EventLoopGroup
    private let idle = NIOLockedValueBox<[any Channel]>([])

    /// `url` is `http://host[:port][/]` (port 8123 when absent); `user:password@` may precede the host.
    public init(
        url: String,
        requestTimeout: Duration = .seconds(600),
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) throws {
        guard let parsed = URLComponents(string: url), parsed.scheme == "http", let host = parsed.host, !host.isEmpty
        else {
            throw ClickHouseError(.invalidURL, "'\(url)' is not a ClickHouse HTTP URL (http://host:port/)")
        }
        guard parsed.path.isEmpty || parsed.path == "/", parsed.query == nil else {
            throw ClickHouseError(.invalidURL, "'\(url)': give the server's URL without a path or query")
        }
        self.host = host
        self.port = parsed.port ?? 8123
        self.user = parsed.user
        self.password = parsed.password
        self.url = "http://\(host):\(self.port)/"
        self.requestTimeout = TimeAmount(requestTimeout)
        self.group = group
    }

    /// Another server reached with the same credentials.
    func sibling(host: String, port: Int) throws -> ClickHouseHTTP {
        var components = URLComponents()
        components.scheme = "http"
        components.host = host
        components.port = port
        components.user = self.user
        components.password = self.password
        components.path = "/"
        return try ClickHouseHTTP(
            url: components.string!,
            requestTimeout: Duration(self.requestTimeout),
            group: self.group
        )
    }

    deinit {
        for channel in self.idle.withLockedValue({ $0 }) { channel.close(promise: nil) }
    }

    /// Closes the kept-alive connections.
    public func shutdown() {
        let channels = self.idle.withLockedValue { channels in
            defer { channels = [] }
            return channels
        }
        for channel in channels { channel.close(promise: nil) }
    }

    /// Runs `sql` (no result wanted, or a result in the format it names); returns the body.
    @discardableResult
    public func execute(_ sql: String, settings: [String: String] = [:]) async throws -> ByteBuffer {
        try await self.post(parameters: settings, body: ByteBuffer(string: sql), sql: sql)
    }

    /// `INSERT INTO table [(columns)] FORMAT f` with `data` as the body.
    public func insert(_ statement: String, data: ByteBuffer, settings: [String: String] = [:]) async throws {
        var parameters = settings
        parameters["query"] = statement
        _ = try await self.post(parameters: parameters, body: data, sql: statement)
    }

    /// A SELECT's rows (JSONEachRow, 64-bit integers as numbers).
    public func rows(_ sql: String, settings: [String: String] = [:]) async throws -> [[String: JSONValue]] {
        var parameters = settings
        parameters["output_format_json_quote_64bit_integers"] = "0"
        let body = try await self.post(
            parameters: parameters,
            body: ByteBuffer(string: sql + "\nFORMAT JSONEachRow"),
            sql: sql
        )
        var rows: [[String: JSONValue]] = []
        for line in body.readableBytesView.split(separator: UInt8(ascii: "\n")) where !line.isEmpty {
            guard case .object(let object) = try JSONValue.parse(Array(line)) else {
                throw ClickHouseError(.badResponse, "\(self.url): a JSONEachRow line that is not an object")
            }
            rows.append(object)
        }
        return rows
    }

    /// The first column of the first row as text (TSV), or nil without rows.
    public func value(_ sql: String) async throws -> String? {
        let body = try await self.post(parameters: [:], body: ByteBuffer(string: sql + "\nFORMAT TSV"), sql: sql)
        let text = String(buffer: body)
        guard let line = text.split(separator: "\n", omittingEmptySubsequences: false).first, !text.isEmpty else {
            return nil
        }
        return String(line)
    }

    // MARK: - HTTP

    private func post(parameters: [String: String], body: ByteBuffer, sql: String) async throws -> ByteBuffer {
        var path = "/"
        if !parameters.isEmpty {
            var components = URLComponents()
            components.queryItems = parameters.sorted { $0.key < $1.key }.map {
                URLQueryItem(name: $0.key, value: $0.value)
            }
            // URLComponents leaves '+' alone, which a server reads as a space.
            path += "?" + (components.percentEncodedQuery ?? "").replacingOccurrences(of: "+", with: "%2B")
        }
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: path)
        head.headers.add(name: "Host", value: "\(self.host):\(self.port)")
        head.headers.add(name: "Content-Length", value: String(body.readableBytes))
        head.headers.add(name: "Connection", value: "keep-alive")
        if let user = self.user {
            head.headers.add(name: "X-ClickHouse-User", value: user.removingPercentEncoding ?? user)
            head.headers.add(name: "X-ClickHouse-Key", value: self.password?.removingPercentEncoding ?? "")
        }
        // A kept-alive connection that the server closed meanwhile fails before any answer: retry once fresh.
        var attempt = 0
        while true {
            attempt += 1
            let (channel, reused) = try await self.channel()
            let promise = channel.eventLoop.makePromise(of: HTTPAnswer.self)
            let timeout = channel.eventLoop.scheduleTask(in: self.requestTimeout) {
                promise.fail(ClickHouseError(.timeout, "\(self.url): no answer within \(self.requestTimeout)"))
                channel.close(promise: nil)
            }
            channel.writeAndFlush(HTTPExchange(head: head, body: body, promise: promise), promise: nil)
            let answer: HTTPAnswer
            do {
                answer = try await promise.futureResult.get()
                timeout.cancel()
            } catch let error as StaleConnection where reused && attempt == 1 {
                _ = error
                timeout.cancel()
                continue
            } catch let error as StaleConnection {
                timeout.cancel()
                throw ClickHouseError(.connectionFailed, "\(self.url): \(error.reason)")
            } catch {
                timeout.cancel()
                channel.close(promise: nil)
                throw error
            }
            if answer.keepAlive && channel.isActive {
                self.idle.withLockedValue { $0.append(channel) }
            } else {
                channel.close(promise: nil)
            }
            guard answer.status == .ok else {
                throw Self.serverError(answer, url: self.url, sql: sql)
            }
            return answer.body
        }
    }

    static func serverError(_ answer: HTTPAnswer, url: String, sql: String) -> ClickHouseError {
        let text = String(buffer: answer.body).trimmingCharacters(in: .whitespacesAndNewlines)
        var code: Int?
        if let range = text.range(of: "Code: ") {
            code = Int(text[range.upperBound...].prefix { $0.isNumber })
        }
        let statement = sql.count > 300 ? String(sql.prefix(300)) + " ..." : sql
        return ClickHouseError(
            .server,
            "\(url) answered \(answer.status.code): \(text)\n  in: \(statement.replacingOccurrences(of: "\n", with: " "))",
            serverCode: code
        )
    }

    private func channel() async throws -> (any Channel, reused: Bool) {
        while let channel = self.idle.withLockedValue({ $0.popLast() }) {
            if channel.isActive { return (channel, true) }
        }
        let bootstrap = ClientBootstrap(group: self.group)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(10))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(HTTPExchangeHandler())
                }
            }
        do {
            return (try await bootstrap.connect(host: self.host, port: self.port).get(), false)
        } catch {
            throw ClickHouseError(.connectionFailed, "cannot connect to ClickHouse at \(self.url): \(error)")
        }
    }
}

/// A request and where its answer goes.
struct HTTPExchange: Sendable {
    var head: HTTPRequestHead
    var body: ByteBuffer
    var promise: EventLoopPromise<HTTPAnswer>
}

struct HTTPAnswer: Sendable {
    var status: HTTPResponseStatus
    var keepAlive: Bool
    var body: ByteBuffer
}

/// The connection closed before any byte of the answer (a kept-alive connection the server had closed).
struct StaleConnection: Error {
    var reason: String
}

/// One exchange at a time: writes the request, collects the answer, completes the promise.
final class HTTPExchangeHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = HTTPExchange
    typealias OutboundOut = HTTPClientRequestPart

    private var promise: EventLoopPromise<HTTPAnswer>?
    private var head: HTTPResponseHead?
    private var body = ByteBuffer()

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let exchange = self.unwrapOutboundIn(data)
        self.promise = exchange.promise
        self.head = nil
        self.body.clear()
        context.write(self.wrapOutboundOut(.head(exchange.head)), promise: nil)
        context.write(self.wrapOutboundOut(.body(.byteBuffer(exchange.body))), promise: nil)
        context.write(self.wrapOutboundOut(.end(nil)), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch self.unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
        case .body(var part):
            self.body.writeBuffer(&part)
        case .end:
            guard let head = self.head, let promise = self.promise else { return }
            self.promise = nil
            promise.succeed(HTTPAnswer(status: head.status, keepAlive: head.isKeepAlive, body: self.body))
            self.body = ByteBuffer()
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.fail(reason: "the connection closed before the answer was complete")
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.fail(reason: "\(error)")
        context.close(promise: nil)
    }

    private func fail(reason: String) {
        guard let promise = self.promise else { return }
        self.promise = nil
        if self.head == nil {
            promise.fail(StaleConnection(reason: reason))
        } else {
            promise.fail(ClickHouseError(.connectionFailed, reason))
        }
    }
}
