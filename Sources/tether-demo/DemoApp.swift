import HTTPTypes
import NIOConcurrencyHelpers
import NIOCore
import TetherWeb

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The demo application: an index page, and the conformance routes of docs/ConformanceRoutes.md.
enum DemoApp {
    /// Process-wide counters for /slow/, /blocking/ and /stream/, served by /stats/.
    struct Stats: Codable, Sendable {
        var started = 0
        var completed = 0
        var cancelled = 0
        var stream_stopped = 0
        var last_cancel_ns: UInt64 = 0
        /// From the server seeing the client leave to the last cancelled handler seeing its cancellation.
        var last_close_to_cancel_us: Int64 = 0
        /// Cancellations by `CancellationReason` ("client_closed", "stream_reset", …).
        var reasons: [String: Int] = [:]
    }

    static let stats = NIOLockedValueBox(Stats())

    /// The application; `metrics` serves `/metrics` when given.
    static func make(temporaryDirectory: String?, metrics: Handler? = nil) -> WebApplication {
        var router = Router()
        if let metrics { router.get("/metrics", metrics) }
        router.get("/") { _ in .html(indexPage) }
        router.get("/hello/") { request in .text("Hello \(request.query["name"] ?? "World")!") }
        router.post("/post/") { request in
            Response(
                headers: [.contentType: "application/octet-stream"], body: ResponseBody(try await request.body.bytes()))
        }
        for method in [HTTPRequest.Method.get, .post] {
            router.on(method, "/slow/", slow)
            router.on(method, "/blocking/", blocking: blocking)
        }
        router.get("/stream/", stream)
        router.post("/upload/") { request in
            var bytes = 0
            for try await chunk in request.body.chunks(chunkSize: 1 << 20) { bytes += chunk.readableBytes }
            return try .json(["bytes": bytes])
        }
        router.get("/stats/") { _ in try .json(stats.withLockedValue { $0 }) }
        router.get("/scope/") { request in try .json(ScopeReport(request)) }
        router.webSocket("/ws/echo/") { _, socket in
            for try await message in socket.messages { try await socket.send(message) }
        }
        router.webSocket("/ws/ticker/", ticker)

        var configuration = WebApplication.Configuration()
        configuration.maxBodySize = 4 << 30
        if let temporaryDirectory { configuration.temporaryDirectory = .init(temporaryDirectory) }
        return WebApplication(router: router, configuration: configuration)
    }

    /// Sleeps `ms` in a cancellable way; a cancelled sleep is counted and timed.
    static func slow(_ request: Request) async throws -> Response {
        let milliseconds = request.query.get("ms", as: Int.self) ?? 1000
        request.observation?.expect(.milliseconds(milliseconds))
        stats.withLockedValue { $0.started += 1 }
        do {
            try await Task.sleep(for: .milliseconds(milliseconds))
        } catch {
            recordCancellation(request) { $0.cancelled += 1 }
            throw error
        }
        stats.withLockedValue { $0.completed += 1 }
        return .text("done")
    }

    /// Sleeps `ms` on a worker thread in slices of at most 10 ms, stopping when the request is cancelled.
    static func blocking(_ request: Request) throws -> Response {
        let milliseconds = request.query.get("ms", as: Int.self) ?? 1000
        request.observation?.expect(.milliseconds(milliseconds))
        stats.withLockedValue { $0.started += 1 }
        var remaining = milliseconds
        while remaining > 0 {
            if request.isCancelled {
                recordCancellation(request, reason: request.cancellation.reason) { $0.cancelled += 1 }
                return .text("cancelled")
            }
            let slice = min(10, remaining)
            usleep(useconds_t(slice * 1000))
            remaining -= slice
        }
        stats.withLockedValue { $0.completed += 1 }
        return .text("done")
    }

    /// Streams `chunks` lines, one every `ms`; a client that leaves stops it, counted and timed.
    static func stream(_ request: Request) async throws -> Response {
        let chunks = request.query.get("chunks", as: Int.self) ?? 10
        let milliseconds = request.query.get("ms", as: Int.self) ?? 100
        stats.withLockedValue { $0.started += 1 }
        return Response(
            headers: [.contentType: "text/plain; charset=utf-8"],
            body: ResponseBody { writer in
                do {
                    for index in 0..<chunks {
                        if index > 0 { try await Task.sleep(for: .milliseconds(milliseconds)) }
                        try await writer.write(ByteBuffer(string: "chunk \(index)\n"))
                    }
                } catch {
                    recordCancellation(request) { $0.stream_stopped += 1 }
                    throw error
                }
                stats.withLockedValue { $0.completed += 1 }
            })
    }

    /// Sends `tick N` every `ms` until the peer leaves, which cancels it: counted and timed as `/stream/` is.
    static func ticker(_ request: Request, _ socket: WebSocket) async throws {
        let milliseconds = request.query.get("ms", as: Int.self) ?? 1000
        stats.withLockedValue { $0.started += 1 }
        do {
            var index = 0
            while true {
                try await socket.send(text: "tick \(index)")
                index += 1
                try await Task.sleep(for: .milliseconds(milliseconds))
            }
        } catch {
            recordCancellation(request) { $0.stream_stopped += 1 }
            throw error
        }
    }

    private static func recordCancellation(
        _ request: Request, reason: CancellationReason? = CancellationReason.current, _ count: (inout Stats) -> Void
    ) {
        let reason = reason.map { "\($0)" } ?? "unknown"
        let latency = request.observation?.departure.map { $0.duration(to: .now) / .microseconds(1) }
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        let nanoseconds = UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
        stats.withLockedValue { stats in
            count(&stats)
            stats.reasons[reason, default: 0] += 1
            stats.last_cancel_ns = nanoseconds
            if let latency { stats.last_close_to_cancel_us = Int64(latency) }
        }
    }
}

/// The request's scope as `/scope/` answers it, in ASGI's shape: addresses as `[host, port]`, a Unix socket as
/// `[path, null]`, and the pid of the worker process that served it.
struct ScopeReport: Encodable {
    /// An address as ASGI writes it.
    struct Endpoint: Encodable {
        var host: String
        var port: Int?

        init?(_ address: SocketAddress?) {
            switch address {
            case .v4?, .v6?:
                guard let host = address?.ipAddress else { return nil }
                (self.host, self.port) = (host, address?.port)
            case .unixDomainSocket?:
                guard let path = address?.pathname else { return nil }
                (self.host, self.port) = (path, nil)
            case nil:
                return nil
            }
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.unkeyedContainer()
            try container.encode(self.host)
            try container.encode(self.port)
        }
    }

    var type = "http"
    var http_version: String
    var scheme: String
    var method: String
    var path: String
    var root_path: String
    var host: String?
    var client: Endpoint?
    var server: Endpoint?
    var worker = getpid()

    init(_ request: Request) {
        let version = request.scope.httpVersion
        self.http_version = version.major >= 2 ? "\(version.major)" : "\(version.major).\(version.minor)"
        self.scheme = request.scheme
        self.method = request.method.rawValue
        self.path = request.path
        self.root_path = request.rootPath
        self.host = request.headers[HTTPField.Name("Host")!]
        self.client = Endpoint(request.client)
        self.server = Endpoint(request.server)
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.type, forKey: .type)
        try container.encode(self.http_version, forKey: .http_version)
        try container.encode(self.scheme, forKey: .scheme)
        try container.encode(self.method, forKey: .method)
        try container.encode(self.path, forKey: .path)
        try container.encode(self.root_path, forKey: .root_path)
        try container.encode(self.host, forKey: .host)
        // Null rather than absent, as ASGI has it.
        try container.encode(self.client, forKey: .client)
        try container.encode(self.server, forKey: .server)
        try container.encode(self.worker, forKey: .worker)
    }

    enum CodingKeys: String, CodingKey {
        case type, http_version, scheme, method, path, root_path, host, client, server, worker
    }
}
