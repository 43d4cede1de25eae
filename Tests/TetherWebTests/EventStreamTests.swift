import HTTPTypes
import NIOCore
import TestSupport
import Testing
import TetherGateway
import TetherTesting
import TetherWeb

/// Server-sent events: their framing, keep-alives in the silences, and an end with the client.
@Suite struct EventStreamTests {
    static func app(_ response: @escaping @Sendable () -> Response) -> WebApplication {
        var router = Router()
        router.get("/events") { _ in response() }
        return WebApplication(router: router)
    }

    /// The body chunks the communicator receives next, as text, until `count` have come.
    static func chunks(_ count: Int, from communicator: ApplicationCommunicator) async throws -> [String] {
        var chunks: [String] = []
        while chunks.count < count {
            guard case .body(let chunk, true) = try await communicator.receiveOutput(timeout: .seconds(10)) else {
                Issue.record("expected a body chunk")
                return chunks
            }
            chunks.append(String(buffer: chunk))
        }
        return chunks
    }

    @Test func eventsAreFramedLineByLine() async throws {
        let events = [
            ServerSentEvent(data: "one"),
            ServerSentEvent(data: "two\nlines\r\nthree\rfour", event: "update", id: "7", retry: .milliseconds(2500)),
            ServerSentEvent(data: " spaced ", event: "in\r\njected", id: "a\nb"),
            ServerSentEvent(data: ""),
            ServerSentEvent(data: "tail\n"),
        ]
        let app = Self.app {
            .eventStream(
                AsyncStream<ServerSentEvent> { continuation in
                    for event in events { continuation.yield(event) }
                    continuation.finish()
                }, keepAlive: nil)
        }
        let response = try await TestClient(app).get("/events")
        #expect(response.status == .ok)
        #expect(response.headers[.contentType] == "text/event-stream")
        #expect(response.headers[.cacheControl] == "no-cache")
        #expect(response.headers[HTTPField.Name("X-Accel-Buffering")!] == "no")
        #expect(response.headers[.contentLength] == nil)
        let expected =
            "data: one\n\n"
            + "event: update\nid: 7\nretry: 2500\ndata: two\ndata: lines\ndata: three\ndata: four\n\n"
            + "event: injected\nid: ab\ndata:  spaced \n\n"
            + "data: \n\n"
            + "data: tail\ndata: \n\n"
        #expect(response.text == expected)
    }

    @Test func stringsAreTheDataOfEventsAndHeadersCanBeReplaced() async throws {
        let app = Self.app {
            .eventStream(
                AsyncStream<String> { continuation in
                    continuation.yield("a")
                    continuation.yield("b\nc")
                    continuation.finish()
                }, keepAlive: nil, headers: [.cacheControl: "no-store"])
        }
        let response = try await TestClient(app).get("/events")
        #expect(response.text == "data: a\n\ndata: b\ndata: c\n\n")
        #expect(response.headers[.cacheControl] == "no-store")
        #expect(response.headers[.contentType] == "text/event-stream")
    }

    @Test func aKeepAliveComesOnlyAfterAQuietInterval() async throws {
        let interval = Duration.milliseconds(250)
        let (events, continuation) = AsyncStream<ServerSentEvent>.makeStream()
        let communicator = ApplicationCommunicator(
            Self.app { .eventStream(events, keepAlive: interval) }, scope: httpScope(.get, "/events"))
        communicator.send(.body(ByteBuffer(), more: false))
        guard case .start = try await communicator.receiveOutput(timeout: .seconds(10)) else {
            Issue.record("no start")
            return
        }
        #expect(try await Self.chunks(1, from: communicator) == [": keep-alive\n\n"])
        // An event sent between two beats restarts the quiet interval: the next keep-alive comes a whole interval
        // after it, not on the beat.
        try await Task.sleep(for: interval * 0.6)
        let sent = ContinuousClock.now
        continuation.yield(ServerSentEvent(data: "news"))
        var next = try await Self.chunks(1, from: communicator)
        // A keep-alive may be due before the event arrives, if this test was slow to send it.
        while next == [": keep-alive\n\n"] { next = try await Self.chunks(1, from: communicator) }
        #expect(next == ["data: news\n\n"])
        #expect(try await Self.chunks(1, from: communicator) == [": keep-alive\n\n"])
        #expect(ContinuousClock.now - sent >= interval)
        communicator.send(.disconnect)
        try await communicator.wait(timeout: .seconds(10))
    }

    @Test func aDisconnectStopsTheLoopThatProducesEvents() async throws {
        let produced = Box(0)
        // Endless: only the client leaving ends it.
        let events = AsyncStream<ServerSentEvent>(unfolding: {
            try? await Task.sleep(for: .milliseconds(5))
            produced.mutate { $0 += 1 }
            return ServerSentEvent(data: "tick")
        })
        let communicator = ApplicationCommunicator(
            Self.app { .eventStream(events, keepAlive: .milliseconds(10)) }, scope: httpScope(.get, "/events"))
        communicator.send(.body(ByteBuffer(), more: false))
        _ = try await communicator.receiveOutput(timeout: .seconds(10))
        // Keep-alives run too, in the silences a busy machine makes.
        while try await Self.chunks(1, from: communicator) != ["data: tick\n\n"] {}
        communicator.send(.disconnect)
        try await communicator.wait(timeout: .seconds(10))
        // The application has returned: nothing it started may still be producing.
        let count = produced.value
        try await Task.sleep(for: .milliseconds(50))
        #expect(produced.value == count)
    }

    @Test func aFailedKeepAliveEndsASilentStreamWhereTheServerCancelsNothing() async throws {
        // With CancelOnDisconnect the web layer leaves the cancelling to the server, which the communicator is not:
        // only the failed write can tell the stream that the client has gone.
        let terminated = Latch()
        let (events, continuation) = AsyncStream<String>.makeStream()
        continuation.onTermination = { _ in terminated.open() }
        var scope = HTTPScope(target: "/events")
        scope.extensions[CancelOnDisconnect.self] = true
        let communicator = ApplicationCommunicator(
            Self.app { .eventStream(events, keepAlive: .milliseconds(10)) }, scope: .http(scope))
        communicator.send(.body(ByteBuffer(), more: false))
        _ = try await communicator.receiveOutput(timeout: .seconds(10))
        #expect(try await Self.chunks(1, from: communicator) == [": keep-alive\n\n"])
        communicator.send(.disconnect)
        #expect(await terminated.wait())
        try await communicator.wait(timeout: .seconds(10))
    }
}

/// Streams of strings, sent as UTF-8.
@Suite struct StringStreamTests {
    @Test func stringsAreSentAsTheyComeAsPlainText() async throws {
        var router = Router()
        router.get("/") { _ in
            .stream(
                AsyncStream<String> { continuation in
                    for piece in ["café ", "", "au lait"] { continuation.yield(piece) }
                    continuation.finish()
                })
        }
        router.get("/csv") { _ in .stream(AsyncStream<String> { $0.finish() }, headers: [.contentType: "text/csv"]) }
        let app = WebApplication(router: router)
        let communicator = ApplicationCommunicator(app, scope: httpScope(.get, "/"))
        communicator.send(.body(ByteBuffer(), more: false))
        #expect(
            try await receiveResponse(from: communicator) == [
                .start(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"]),
                .body(ByteBuffer(string: "café "), more: true),
                .body(ByteBuffer(string: "au lait"), more: true),
                .body(ByteBuffer(), more: false),
            ])
        #expect(try await TestClient(app).get("/csv").headers[.contentType] == "text/csv")
    }

    @Test func aClientThatLeavesEndsTheStream() async throws {
        let terminated = Latch()
        var router = Router()
        router.get("/") { _ in
            let (strings, continuation) = AsyncStream<String>.makeStream()
            continuation.onTermination = { _ in terminated.open() }
            continuation.yield("first")
            return .stream(strings)
        }
        let communicator = ApplicationCommunicator(WebApplication(router: router), scope: httpScope(.get, "/"))
        communicator.send(.body(ByteBuffer(), more: false))
        _ = try await communicator.receiveOutput(timeout: .seconds(10))
        #expect(
            try await communicator.receiveOutput(timeout: .seconds(10))
                == .body(ByteBuffer(string: "first"), more: true))
        communicator.send(.disconnect)
        #expect(await terminated.wait())
        try await communicator.wait(timeout: .seconds(10))
    }
}
