import Foundation
import HTTPTypes
import InMemoryTracing
import Logging
import NIOCore
import Prometheus
import ServiceLifecycle
import TestSupport
import Testing
import TetherGateway
import TetherObservability
import TetherServer
import TetherSoak
import TetherWeb
import Tracing

/// Every cancellation reason shows up in the metrics and in a span, each caused over real sockets: the request's
/// counter under its route pattern and its reason, its close → cancel histogram, and one server span naming the
/// reason. Besides: completed requests, request IDs, `traceparent`, refusals and the JSON access log.
///
/// Each test has its own Prometheus registry and `InMemoryTracer`, given to its server through
/// `Server.Configuration.observability`: nothing is bootstrapped process-wide.
@Suite(.timeLimit(.minutes(2))) struct ObservabilityTests {
    // MARK: What the server reports

    /// One test's own registry and tracer, and what they hold.
    struct Observed: Sendable {
        let registry = PrometheusCollectorRegistry()
        let tracer = InMemoryTracer()
        /// The tracer the server is given: ``tracer`` itself, or one in front of it.
        let serverTracer: any Tracer

        init(continuingTraceparent: Bool = false) {
            self.serverTracer = continuingTraceparent ? TraceContextTracer(base: self.tracer) : self.tracer
        }

        /// Points the server's observability at this registry and tracer.
        func configure(_ configuration: inout Server.Configuration) {
            configuration.observability.metricsFactory = Observability.metricsFactory(self.registry)
            configuration.observability.tracer = self.serverTracer
        }

        /// The registry in Prometheus's text format, a line each.
        var metricLines: [String] {
            self.registry.emitToString().split(separator: "\n").map(String.init)
        }

        /// The finished spans of requests cancelled for `reason`.
        func spans(cancelledFor reason: CancellationReason) -> [FinishedInMemorySpan] {
            self.tracer.finishedSpans.filter {
                $0.attributes.get("tether.cancellation.reason") == .string(reason.description)
            }
        }

        /// Waits (up to 5 s) until `count` spans have finished: the server ends a request's span after the
        /// application returns, so a test may see the response before it.
        func finishedSpans(count: Int) async throws -> [FinishedInMemorySpan] {
            _ = try await eventually(timeout: .seconds(5)) { self.tracer.finishedSpans.count >= count }
            return self.tracer.finishedSpans
        }

        /// Checks that one request of `route` was cancelled for `reason`, once its span has ended (within 5 s): one
        /// server span naming the reason and the route, the cancellation counted once under both, its close →
        /// cancel latency recorded once, and its work saved worked out on `basis`.
        func expectCancelled(
            _ reason: CancellationReason, route: String, basis: String = "elapsed",
            sourceLocation: SourceLocation = #_sourceLocation
        ) async throws {
            let name = reason.description
            let ended = try await eventually(timeout: .seconds(5)) { !self.spans(cancelledFor: reason).isEmpty }
            let all = self.tracer.finishedSpans.map { "\($0.operationName) \($0.attributes)" }
            #expect(
                ended, "no span ended with tether.cancellation.reason \(name): \(all)", sourceLocation: sourceLocation)
            let spans = self.spans(cancelledFor: reason)
            #expect(spans.count == 1, "\(all)", sourceLocation: sourceLocation)
            let span = try #require(spans.first, sourceLocation: sourceLocation)
            #expect(span.kind == .server, sourceLocation: sourceLocation)
            #expect(span.attributes.get("tether.work_saved.basis") == .string(basis), sourceLocation: sourceLocation)
            if case .double(let latency)? = span.attributes.get("tether.close_to_cancel_ms") {
                #expect(latency >= 0, sourceLocation: sourceLocation)
            } else {
                Issue.record("no tether.close_to_cancel_ms: \(span.attributes)", sourceLocation: sourceLocation)
            }
            let started = span.attributes.get("tether.response.started")
            #expect(
                started == .bool(true) || started == .bool(false), "\(span.attributes)", sourceLocation: sourceLocation)

            let lines = self.metricLines
            let text = lines.joined(separator: "\n")
            // Counted once, under one route, whichever it is.
            let series = lines.filter {
                $0.hasPrefix("tether_requests_cancelled_total{") && $0.contains("reason=\"\(name)\"")
            }
            #expect(
                series.count == 1 && series.first?.hasSuffix("} 1") == true, "\(text)", sourceLocation: sourceLocation)
            #expect(
                lines.contains("tether_close_to_cancel_seconds_count{reason=\"\(name)\"} 1"), "\(text)",
                sourceLocation: sourceLocation)

            #expect(
                span.attributes.get("http.route") == .string(route), "\(span.attributes)",
                sourceLocation: sourceLocation)
            #expect(
                lines.contains("tether_requests_cancelled_total{route=\"\(route)\",reason=\"\(name)\"} 1"),
                "\(text)", sourceLocation: sourceLocation)
        }
    }

    /// The test routes: /items/:id answers at once; /slow/ (GET, or POST reading its body) and /deadline/ (a route
    /// deadline of 300 ms) work for a minute unless cancelled, recording why; /upload/ reads its body.
    final class App: Sendable {
        let started = Latch()
        let cancelled = Latch()
        let reason = Box<CancellationReason?>(nil)

        var application: WebApplication {
            var router = Router()
            router.get("/items/:id") { request in .text("item \(request.parameters["id"] ?? "")") }
            for method in [HTTPRequest.Method.get, .post] {
                router.on(method, "/slow/") { request in
                    _ = try await request.body.bytes()
                    self.started.open()
                    try await DisconnectOverSocketTests.workUntilCancelled(
                        opening: self.cancelled, recording: self.reason)
                    return .text("done")
                }
            }
            router.get("/deadline/", deadline: .milliseconds(300)) { _ in
                self.started.open()
                try await DisconnectOverSocketTests.workUntilCancelled(opening: self.cancelled, recording: self.reason)
                return .text("done")
            }
            router.post("/upload/") { request in .text("\(try await request.body.bytes().readableBytes) bytes") }
            return WebApplication(router: router)
        }
    }

    /// The reasons this suite's tests cause, by their arguments.
    static let causedReasons: Set<CancellationReason> = Set(
        DisconnectOverSocketTests.Leaving.allCases.map(Self.reason(leaving:))
            + BodyFault.allCases.map(\.reason) + [.requestDeadline, .serverShutdown]
            + PeerFault.allCases.map(\.reason) + ConnectionFault.allCases.map(\.reason) + [.streamReset])

    @Test func everyCancellationReasonIsCausedByATestHere() {
        #expect(Self.causedReasons == Set(CancellationReason.allCases))
    }

    // MARK: HTTP/1.1

    static func reason(leaving: DisconnectOverSocketTests.Leaving) -> CancellationReason {
        switch leaving {
        case .fin: .clientClosed
        case .rst: .clientReset
        }
    }

    @Test(arguments: DisconnectOverSocketTests.Leaving.allCases)
    func aClientLeavingMidRequestIsCountedAndTraced(leaving: DisconnectOverSocketTests.Leaving) async throws {
        let (observed, app) = (Observed(), App())
        let expected = Self.reason(leaving: leaving)
        try await withServer(app.application, configure: observed.configure) { port, _ in
            let client = try await RawClient.connect(port: port)
            try await client.send("POST /slow/ HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody")
            #expect(await app.started.wait())
            try await DisconnectOverSocketTests.leave(client, by: leaving)
            #expect(await app.cancelled.wait())
            #expect(app.reason.value == expected)
            try await observed.expectCancelled(expected, route: "/slow/")
        }
    }

    /// What goes wrong with a request body, caused once the server has begun the request (its span has started).
    enum BodyFault: String, CaseIterable, Sendable {
        /// Three bytes of ten, then FIN, on a server that serves half-closed connections.
        case halfClosed
        /// Three bytes of ten, then nothing past the body idle timeout: 408.
        case bodyIdleTimeout
        /// A chunk past the server's `maxBodySize`: 413.
        case bodyTooLarge
        /// A chunk size that is not hexadecimal: 400.
        case malformedBody

        var reason: CancellationReason {
            switch self {
            case .halfClosed: .halfClosed
            case .bodyIdleTimeout: .bodyIdleTimeout
            case .bodyTooLarge: .bodyTooLarge
            case .malformedBody: .malformedBody
            }
        }

        func configure(_ configuration: inout Server.Configuration) {
            switch self {
            case .halfClosed: configuration.servesHalfClosedConnections = true
            case .bodyIdleTimeout: configuration.bodyIdleTimeout = .milliseconds(200)
            case .bodyTooLarge: configuration.maxBodySize = 10
            case .malformedBody: break
            }
        }

        var head: String {
            switch self {
            case .halfClosed, .bodyIdleTimeout: "POST /upload/ HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n"
            case .bodyTooLarge, .malformedBody:
                "POST /upload/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            }
        }

        var rest: String {
            switch self {
            case .halfClosed, .bodyIdleTimeout: "abc"
            case .bodyTooLarge: "10\r\n0123456789abcdef\r\n"
            case .malformedBody: "zz\r\nhello\r\n0\r\n\r\n"
            }
        }

        /// The status the server refuses the request with, if it answers.
        var refusal: Int? {
            switch self {
            case .halfClosed: nil
            case .bodyIdleTimeout: 408
            case .bodyTooLarge: 413
            case .malformedBody: 400
            }
        }
    }

    @Test(arguments: BodyFault.allCases)
    func aBodyFaultIsCountedAndTraced(fault: BodyFault) async throws {
        let observed = Observed()
        let configure: (inout Server.Configuration) -> Void = {
            observed.configure(&$0)
            fault.configure(&$0)
        }
        try await withServer(App().application, configure: configure) { port, _ in
            let client = try await RawClient.connect(port: port)
            try await client.send(fault.head)
            // The request's span has begun; under load a 200 ms body timeout may already have ended it.
            #expect(
                try await eventually {
                    observed.tracer.activeSpans.count + observed.tracer.finishedSpans.count == 1
                })
            try await client.send(fault.rest)
            if fault == .halfClosed { try await client.halfClose() }
            let answer = try await client.waitForClose()
            if let status = fault.refusal {
                #expect(answer.hasPrefix("HTTP/1.1 \(status) "), "\(answer)")
                #expect(observed.metricLines.contains("tether_refusals_total{status=\"\(status)\"} 1"))
            } else {
                #expect(answer == "")
            }
            // The request was cancelled, once; its application answered nothing, and a response was sent only if the
            // server refused the request itself.
            #expect(try await observed.finishedSpans(count: 1).count == 1)
            let span = try #require(observed.tracer.finishedSpans.first)
            #expect(span.attributes.get("tether.cancellation.reason") != nil, "\(span.attributes)")
            #expect(span.attributes.get("tether.response.started") == .bool(fault.refusal != nil))
            if let status = fault.refusal {
                // The server answered in the application's place: its status is the request's.
                #expect(span.attributes.get("http.response.status_code") == .int64(Int64(status)))
                #expect(
                    observed.metricLines.contains {
                        $0.hasPrefix("tether_requests_total{") && $0.contains("status=\"\(status)\"")
                    })
            }
            // The body failed before the router saw the request; the route is named all the same.
            try await observed.expectCancelled(fault.reason, route: "/upload/")
        }
    }

    /// The server's request timeout on /slow/, and /deadline/'s own route deadline, whose duration is the work
    /// the handler was expected to do.
    @Test(arguments: [false, true])
    func aRequestPastItsDeadlineIsCountedAndTraced(routeDeadline: Bool) async throws {
        let (observed, app) = (Observed(), App())
        let configure: (inout Server.Configuration) -> Void = {
            observed.configure(&$0)
            if !routeDeadline { $0.requestTimeout = .seconds(1) }
        }
        let path = routeDeadline ? "/deadline/" : "/slow/"
        try await withServer(app.application, configure: configure) { port, _ in
            let client = try await RawClient.connect(port: port)
            try await client.send("GET \(path) HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(await app.started.wait())
            #expect(await app.cancelled.wait())
            #expect(app.reason.value == .requestDeadline)
            let answer = try await client.waitFor("\r\n\r\n")
            #expect(answer.hasPrefix("HTTP/1.1 504 "), "\(answer)")
            try await observed.expectCancelled(
                .requestDeadline, route: path, basis: routeDeadline ? "expected" : "elapsed")
            let span = try #require(observed.spans(cancelledFor: .requestDeadline).first)
            #expect(span.attributes.get("http.response.status_code") == .int64(504))
        }
    }

    /// What a graceful shutdown finds working: an HTTP/1 request or an HTTP/2 stream on /slow/, cancelled when the
    /// grace period (200 ms) ends, or a WebSocket on /ticker/, closed with 1001 at once.
    enum Shutdown: String, CaseIterable, Sendable {
        case http1, http2, webSocket

        var route: String { self == .webSocket ? "/ticker/" : "/slow/" }
    }

    @Test(arguments: Shutdown.allCases)
    func workCutShortByAShutdownIsCountedAndTraced(via: Shutdown) async throws {
        let (observed, app, sockets) = (Observed(), App(), WebSocketOverSocketTests.App())
        let (application, started, cancelled, reason) =
            via == .webSocket
            ? (sockets.application, sockets.started, sockets.cancelled, sockets.reason)
            : (app.application, app.started, app.cancelled, app.reason)
        try await Self.withServiceGroup(application, gracePeriod: .milliseconds(200), configure: observed.configure) {
            port, group in
            let client: RawClient
            switch via {
            case .http1:
                client = try await RawClient.connect(port: port)
                try await client.send("GET /slow/ HTTP/1.1\r\nHost: x\r\n\r\n")
            case .http2:
                client = try await H2c.open("/slow/", port: port)
            case .webSocket:
                client = try await WebSocketOverSocketTests.open("/ticker/", port: port)
            }
            #expect(await started.wait())
            await group.triggerGracefulShutdown()
            #expect(await cancelled.wait())
            _ = try await client.waitForClose()
            #expect(reason.value == .serverShutdown)
        }
        try await observed.expectCancelled(.serverShutdown, route: via.route)
    }

    // MARK: WebSocket

    /// How a WebSocket peer ends its connection while the handler works.
    enum PeerFault: String, CaseIterable, Sendable {
        /// A close frame (4000) on /quiet/.
        case closeFrame
        /// Pings unanswered past the pong timeout on /ticker/.
        case pingTimeout
        /// 1,200 bytes in two fragments, over a `maxMessageSize` of 1,000, on /quiet/: 1009.
        case messageTooLarge
        /// A text frame that is not UTF-8 on /quiet/: 1007.
        case protocolError

        var reason: CancellationReason {
            switch self {
            case .closeFrame: .closeFrame
            case .pingTimeout: .pingTimeout
            case .messageTooLarge: .messageTooLarge
            case .protocolError: .protocolError
            }
        }

        var path: String { self == .pingTimeout ? "/ticker/" : "/quiet/" }

        func configure(_ configuration: inout Server.Configuration) {
            switch self {
            case .pingTimeout:
                configuration.webSocket.pingInterval = .milliseconds(100)
                configuration.webSocket.pongTimeout = .milliseconds(200)
            case .messageTooLarge:
                configuration.webSocket.maxMessageSize = 1000
            case .closeFrame, .protocolError:
                break
            }
        }

        func cause(on client: RawClient) async throws {
            switch self {
            case .closeFrame:
                try await client.send(WebSocketOverSocketTests.closeFrame(4000, "bye"))
            case .pingTimeout:
                break
            case .messageTooLarge:
                let part = ByteBuffer(repeating: 1, count: 600)
                try await client.send(WebSocketOverSocketTests.frame(.binary, part, fin: false))
                try await client.send(WebSocketOverSocketTests.frame(.continuation, part))
            case .protocolError:
                try await client.send(WebSocketOverSocketTests.frame(.text, ByteBuffer(bytes: [0x61, 0xC3, 0x28])))
            }
        }
    }

    @Test(arguments: PeerFault.allCases)
    func aWebSocketPeerFaultIsCountedAndTraced(fault: PeerFault) async throws {
        let observed = Observed()
        let app = WebSocketOverSocketTests.App()
        let configure: (inout Server.Configuration) -> Void = {
            observed.configure(&$0)
            fault.configure(&$0)
        }
        try await withServer(app.application, configure: configure) { port, _ in
            let client = try await WebSocketOverSocketTests.open(fault.path, port: port)
            #expect(await app.started.wait())
            if fault.path == "/quiet/" { try await client.waitFor("ready") }
            try await fault.cause(on: client)
            #expect(await app.cancelled.wait())
            #expect(app.reason.value == fault.reason)
            try await observed.expectCancelled(fault.reason, route: fault.path)
            let span = try #require(observed.spans(cancelledFor: fault.reason).first)
            #expect(span.attributes.get("http.response.status_code") == .int64(101), "\(span.attributes)")
        }
    }

    // MARK: HTTP/2

    /// How an HTTP/2 connection (h2c, frames written by hand) is lost while its stream's handler works.
    enum ConnectionFault: String, CaseIterable, Sendable {
        /// The client answers nothing, PINGs included, past the PING timeout.
        case unansweredPing
        /// The client opens a stream with an even ID, which only a server may: GOAWAY(PROTOCOL_ERROR).
        case evenStreamID

        var reason: CancellationReason {
            switch self {
            case .unansweredPing: .clientUnreachable
            case .evenStreamID: .protocolError
            }
        }
    }

    @Test(arguments: ConnectionFault.allCases)
    func anHTTP2ConnectionLostMidStreamIsCountedAndTraced(fault: ConnectionFault) async throws {
        let (observed, app) = (Observed(), App())
        let configure: (inout Server.Configuration) -> Void = {
            observed.configure(&$0)
            if fault == .unansweredPing {
                $0.http2.pingInterval = .milliseconds(500)
                $0.http2.pingTimeout = .milliseconds(200)
            }
        }
        try await withServer(app.application, configure: configure) { port, _ in
            let client = try await H2c.open("/slow/", port: port)
            #expect(await app.started.wait())
            if fault == .evenStreamID { try await client.send(H2c.get("/slow/", stream: 2)) }
            #expect(await app.cancelled.wait())
            #expect(app.reason.value == fault.reason)
            _ = try await client.waitForClose()
            try await observed.expectCancelled(fault.reason, route: "/slow/")
        }
    }

    // MARK: Completed requests, request IDs, traces, refusals, the access log

    @Test func aCompletedRequestIsCountedUnderItsRoutePatternAndAnUnknownPathAsUnmatched() async throws {
        let observed = Observed()
        try await withServer(App().application, configure: observed.configure) { port, _ in
            let found = try await Self.get("/items/42", port: port)
            #expect(found.hasPrefix("HTTP/1.1 200 OK\r\n") && found.hasSuffix("item 42"), "\(found)")
            let missing = try await Self.get("/nowhere/", port: port)
            #expect(missing.hasPrefix("HTTP/1.1 404 "), "\(missing)")

            let spans = try await observed.finishedSpans(count: 2)
            #expect(spans.count == 2)
            let item = try #require(spans.first { $0.attributes.get("url.path") == .string("/items/42") })
            #expect(item.operationName == "GET /items/:id")
            #expect(item.kind == .server)
            #expect(item.attributes.get("http.route") == .string("/items/:id"))
            #expect(item.attributes.get("http.request.method") == .string("GET"), "\(item.attributes)")
            #expect(item.attributes.get("http.response.status_code") == .int64(200), "\(item.attributes)")
            #expect(item.attributes.get("tether.cancellation.reason") == nil)
            let unmatched = try #require(spans.first { $0.attributes.get("url.path") == .string("/nowhere/") })
            #expect(unmatched.operationName == "GET")
            #expect(unmatched.attributes.get("http.route") == nil)
            #expect(unmatched.attributes.get("http.response.status_code") == .int64(404))

            let lines = observed.metricLines
            let text = lines.joined(separator: "\n")
            #expect(
                lines.contains(#"tether_requests_total{method="GET",route="/items/:id",status="200"} 1"#), "\(text)")
            #expect(lines.contains(#"tether_requests_total{method="GET",route="unmatched",status="404"} 1"#), "\(text)")
            #expect(lines.filter { $0.hasPrefix("tether_requests_total{") }.count == 2, "\(text)")
            #expect(!lines.contains { $0.hasPrefix("tether_requests_cancelled_total{") }, "\(text)")
        }
    }

    @Test func aRequestIDIsKeptOrMadeAndEchoedAndTraced() async throws {
        let observed = Observed()
        try await withServer(App().application, configure: observed.configure) { port, _ in
            let offered = try await Self.get("/items/1", headers: "X-Request-Id: abc-123\r\n", port: port)
            #expect(Self.field("X-Request-Id", in: offered) == "abc-123", "\(offered)")
            let none = try await Self.get("/items/2", port: port)
            let made = try #require(Self.field("X-Request-Id", in: none), "\(none)")
            #expect(made.utf8.count == 32, "\(made)")
            #expect(made.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }, "\(made)")

            let spans = try await observed.finishedSpans(count: 2)
            let first = try #require(spans.first { $0.attributes.get("url.path") == .string("/items/1") })
            #expect(first.attributes.get("http.request.header.x_request_id") == .stringArray(["abc-123"]))
            let second = try #require(spans.first { $0.attributes.get("url.path") == .string("/items/2") })
            #expect(second.attributes.get("http.request.header.x_request_id") == .stringArray([made]))
        }
    }

    @Test func aTraceparentIsContinuedAndTheHandlerSeesItsSpan() async throws {
        let observed = Observed(continuingTraceparent: true)
        let seen = Box<InMemorySpanContext?>(nil)
        var router = Router()
        router.get("/trace/") { _ in
            let context = ServiceContext.current ?? .topLevel
            seen.value = context.inMemorySpanContext
            observed.tracer.startSpan("child work", context: context).end()
            return .text("traced")
        }
        let traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
        let parentID = "00f067aa0ba902b7"
        try await withServer(WebApplication(router: router), configure: observed.configure) { port, _ in
            let answer = try await Self.get(
                "/trace/", headers: "traceparent: 00-\(traceID)-\(parentID)-01\r\n", port: port)
            #expect(answer.hasSuffix("traced"), "\(answer)")

            let spans = try await observed.finishedSpans(count: 2)
            let server = try #require(spans.first { $0.kind == .server }, "\(spans.map(\.operationName))")
            #expect(server.operationName == "GET /trace/")
            #expect(server.traceID == traceID)
            #expect(server.parentSpanID == parentID)
            #expect(seen.value == server.spanContext)
            let child = try #require(spans.first { $0.operationName == "child work" })
            #expect(child.traceID == traceID)
            #expect(child.parentSpanID == server.spanID)
        }
    }

    @Test func anOverLongTargetIsRefusedWith414AndCounted() async throws {
        let observed = Observed()
        try await withServer(App().application, configure: observed.configure) { port, _ in
            let client = try await RawClient.connect(port: port)
            try await client.send("GET /\(String(repeating: "a", count: 10_000)) HTTP/1.1\r\nHost: x\r\n\r\n")
            let answer = try await client.waitForClose()
            #expect(answer.hasPrefix("HTTP/1.1 414 "), "\(answer.prefix(200))")
        }
        let lines = observed.metricLines
        let text = lines.joined(separator: "\n")
        #expect(lines.contains(#"tether_refusals_total{status="414"} 1"#), "\(text)")
        for status in [400, 408, 413, 431, 501, 503, 505] {
            #expect(lines.contains("tether_refusals_total{status=\"\(status)\"} 0"), "\(text)")
        }
        // Refused before any application saw it: no request, no span.
        #expect(!lines.contains { $0.hasPrefix("tether_requests_total{") }, "\(text)")
        #expect(observed.tracer.finishedSpans.isEmpty && observed.tracer.activeSpans.isEmpty)
    }

    @Test func theJSONAccessLogHasALineOfJSONPerRequest() async throws {
        let (observed, app) = (Observed(), App())
        let messages = Box<[String]>([])
        let logger = Logger(label: "test.access") { _ in MessageRecorder(messages: messages) }
        let lines = { @Sendable in messages.value.filter { $0.hasPrefix("{") } }
        let configure: (inout Server.Configuration) -> Void = {
            observed.configure(&$0)
            $0.accessLog = true
            $0.observability.accessLogFormat = .json
        }
        try await Self.withServiceGroup(app.application, logger: logger, configure: configure) { port, _ in
            let answer = try await Self.get("/items/7", headers: "X-Request-Id: json-1\r\n", port: port)
            #expect(answer.hasSuffix("item 7"), "\(answer)")
            let client = try await RawClient.connect(port: port)
            try await client.send("GET /slow/ HTTP/1.1\r\nHost: x\r\nX-Request-Id: json-2\r\n\r\n")
            #expect(await app.started.wait())
            try await client.close()
            #expect(await app.cancelled.wait())
            #expect(try await eventually(timeout: .seconds(5)) { lines().count == 2 }, "\(messages.value)")
        }

        let objects = try lines().map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)")
        }
        let completed = try #require(objects.first { $0["request_id"] as? String == "json-1" }, "\(lines())")
        #expect(completed["method"] as? String == "GET")
        #expect(completed["target"] as? String == "/items/7")
        #expect(completed["route"] as? String == "/items/:id")
        #expect(completed["status"] as? Int == 200)
        #expect(completed["cancelled"] == nil && completed["close_to_cancel_ms"] == nil)
        let cancelled = try #require(objects.first { $0["request_id"] as? String == "json-2" }, "\(lines())")
        #expect(cancelled["method"] as? String == "GET")
        #expect(cancelled["route"] as? String == "/slow/")
        #expect(cancelled["status"] as? Int == 0)
        #expect(cancelled["cancelled"] as? String == "client_closed")
        #expect((cancelled["close_to_cancel_ms"] as? Double).map { $0 >= 0 } == true, "\(lines())")
    }

    // MARK: Helpers

    /// Sends a GET for `path` with `headers` (each ending in CRLF) and `Connection: close`; returns the answer.
    static func get(_ path: String, headers: String = "", port: Int) async throws -> String {
        let client = try await RawClient.connect(port: port)
        try await client.send("GET \(path) HTTP/1.1\r\nHost: x\r\n\(headers)Connection: close\r\n\r\n")
        return try await client.waitForClose()
    }

    /// The value of the response field `name` in `answer`, if it has one.
    static func field(_ name: String, in answer: String) -> String? {
        let head = answer.components(separatedBy: "\r\n\r\n").first ?? ""
        let prefix = name.lowercased() + ": "
        return head.components(separatedBy: "\r\n").first { $0.lowercased().hasPrefix(prefix) }
            .map { String($0.dropFirst(prefix.count)) }
    }

    /// Runs a server for `application` in a service group, as a deployment does, while `body` runs, then shuts it
    /// down gracefully: `body` gets the port, and the group to shut down itself. Unlike `withServer`, the server logs
    /// to `logger`, and its requests still working `gracePeriod` into a shutdown are cancelled.
    static func withServiceGroup(
        _ application: some Application, logger: Logger = LifecycleTests.quiet, gracePeriod: Duration = .seconds(10),
        configure: (inout Server.Configuration) -> Void,
        _ body: @Sendable (_ port: Int, _ group: ServiceGroup) async throws -> Void
    ) async throws {
        var configuration = Server.Configuration(host: "127.0.0.1", port: 0)
        configuration.lifespan = .off
        configuration.accessLog = false
        configure(&configuration)
        let server = Server(application: application, configuration: configuration, logger: logger)
        var groupConfiguration = ServiceGroupConfiguration(services: [server], logger: LifecycleTests.quiet)
        groupConfiguration.maximumGracefulShutdownDuration = gracePeriod
        let group = ServiceGroup(configuration: groupConfiguration)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            // A shutdown past its grace period ends the group with an error: that is what some tests cause.
            tasks.addTask { try? await group.run() }
            let port = try #require(try await server.localAddress.port)
            try await body(port, group)
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }
}

/// HTTP/2 by prior knowledge with frames written by hand: a client that sends exactly what a test says and answers
/// nothing, not even a PING or the server's SETTINGS.
private enum H2c {
    static let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

    /// A frame (RFC 9113 §4.1).
    static func frame(_ type: UInt8, flags: UInt8 = 0, stream: UInt32, _ payload: [UInt8] = []) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt32(payload.count) << 8 | UInt32(type))
        buffer.writeInteger(flags)
        buffer.writeInteger(stream)
        buffer.writeBytes(payload)
        return buffer
    }

    /// HEADERS with END_STREAM and END_HEADERS for `GET path` on `stream`. The header block (RFC 7541): `:method GET`
    /// and `:scheme http` from the static table, `:path` and `:authority` as literals without indexing.
    static func get(_ path: String, stream: UInt32) -> ByteBuffer {
        let block: [UInt8] =
            [0x82, 0x86, 0x04, UInt8(path.utf8.count)] + Array(path.utf8) + [0x01, 0x01, UInt8(ascii: "x")]
        return Self.frame(0x1, flags: 0x5, stream: stream, block)
    }

    /// Connects to 127.0.0.1:`port` and sends the preface, an empty SETTINGS and `GET path` on stream 1.
    static func open(_ path: String, port: Int) async throws -> RawClient {
        let client = try await RawClient.connect(port: port)
        var bytes = ByteBuffer(bytes: Self.preface)
        var settings = Self.frame(0x4, stream: 0)
        var request = Self.get(path, stream: 1)
        bytes.writeBuffer(&settings)
        bytes.writeBuffer(&request)
        try await client.send(bytes)
        return client
    }
}

/// An `InMemoryTracer` that continues a W3C `traceparent`, as swift-otel's propagator does: `InMemoryTracer` itself
/// extracts only its own `in-memory-trace-id` and `in-memory-span-id` fields.
private struct TraceContextTracer: Tracer {
    let base: InMemoryTracer

    func startSpan<Instant: TracerInstant>(
        _ operationName: String, context: @autoclosure () -> ServiceContext, ofKind kind: SpanKind,
        at instant: @autoclosure () -> Instant, function: String, file fileID: String, line: UInt
    ) -> InMemorySpan {
        self.base.startSpan(
            operationName, context: context(), ofKind: kind, at: instant(), function: function, file: fileID,
            line: line)
    }

    func activeSpan(identifiedBy context: ServiceContext) -> InMemorySpan? {
        self.base.activeSpan(identifiedBy: context)
    }

    func forceFlush() { self.base.forceFlush() }

    func inject<Carrier, Inject: Injector>(
        _ context: ServiceContext, into carrier: inout Carrier, using injector: Inject
    ) where Inject.Carrier == Carrier {
        self.base.inject(context, into: &carrier, using: injector)
    }

    /// `traceparent: version-traceid-parentid-flags`, each in lower-case hexadecimal.
    func extract<Carrier, Extract: Extractor>(
        _ carrier: Carrier, into context: inout ServiceContext, using extractor: Extract
    ) where Extract.Carrier == Carrier {
        guard let value = extractor.extract(key: "traceparent", from: carrier) else { return }
        let fields = value.split(separator: "-")
        guard fields.count == 4, fields[1].utf8.count == 32, fields[2].utf8.count == 16 else { return }
        context.inMemorySpanContext = InMemorySpanContext(
            traceID: String(fields[1]), spanID: String(fields[2]), parentSpanID: nil)
    }
}

/// A swift-log handler that keeps every message.
private struct MessageRecorder: LogHandler {
    let messages: Box<[String]>
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .info

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.metadata[key] }
        set { self.metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        self.messages.mutate { $0.append("\(event.message)") }
    }
}

extension SubprocessTests {
    /// A stream reset by Tests/Scripts/h2_client.py is counted and traced as `stream_reset`; the connection's
    /// other streams are not cancelled.
    @Suite(.serialized, .timeLimit(.minutes(2))) struct HTTP2ObservabilityTests {
        @Test func aStreamResetIsCountedAndTraced() async throws {
            let observed = ObservabilityTests.Observed()
            let app = H2TestApp()
            try await withServer(app.application, configure: observed.configure) { port, _ in
                let script = try H2Script("reset-sibling", port: port, ["--slow", "/slow/", "--sibling", "/hello/"])
                #expect(try await eventually { app.started("/slow/") == 1 })
                script.go()
                #expect(try await eventually { !app.cancellations("/slow/").isEmpty })
                let report = try await script.report()
                #expect(app.cancellations("/slow/") == [.streamReset], "\(report)")
                #expect(report[stream: 5]?.body == "Hello World!", "\(report)")
                try await observed.expectCancelled(.streamReset, route: "/slow/")
                // The sibling and the stream after the reset completed: three spans, one cancelled.
                let spans = try await observed.finishedSpans(count: 3)
                #expect(spans.count == 3, "\(spans.map(\.operationName))")
                let lines = observed.metricLines
                #expect(
                    lines.contains(#"tether_requests_total{method="GET",route="/hello/",status="200"} 2"#),
                    "\(lines.joined(separator: "\n"))")
            }
        }
    }
}
