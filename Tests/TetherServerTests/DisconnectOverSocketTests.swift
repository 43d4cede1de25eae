import HTTPTypes
import NIOCore
import NIOPosix
import TestSupport
import Testing
import TetherGateway
import TetherServer
import TetherSoak
import TetherWeb

/// The server tells the application the moment its client leaves, at every moment of a request, for FIN and RST.
@Suite struct DisconnectOverSocketTests {
    enum Leaving: String, CaseIterable, Sendable {
        case fin, rst
    }

    static func leave(_ client: RawClient, by leaving: Leaving) async throws {
        switch leaving {
        case .fin: try await client.close()
        case .rst: try await client.reset()
        }
    }

    /// A minute of work, unless the task is cancelled first: then `reason` (if given) records why, and `cancelled`
    /// opens.
    static func workUntilCancelled(opening cancelled: Latch, recording reason: Box<CancellationReason?>? = nil)
        async throws
    {
        do {
            try await Task.sleep(for: .seconds(60))
        } catch {
            reason?.value = CancellationReason.current
            cancelled.open()
            throw error
        }
    }

    /// A web application whose /slow/ handler (GET, or POST with a body it reads) opens `started` and records
    /// its cancellation.
    static func slowApp(started: Latch, cancelled: Latch, wrote: Box<Bool>) -> WebApplication {
        var router = Router()
        for method in [HTTPRequest.Method.get, .post] {
            router.on(method, "/slow/") { request in
                _ = try await request.body.bytes()
                started.open()
                try await Self.workUntilCancelled(opening: cancelled)
                wrote.value = true
                return .text("done")
            }
        }
        return WebApplication(router: router)
    }

    /// The same handler with a body (the Django bug) and without one.
    static let slowRequests = [
        "POST /slow/ HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\nsome body",
        "GET /slow/ HTTP/1.1\r\nHost: x\r\n\r\n",
    ]

    @Test(arguments: Self.slowRequests, Leaving.allCases)
    func leavingWhileTheHandlerWorksCancelsIt(request: String, leaving: Leaving) async throws {
        let (started, cancelled, wrote) = (Latch(), Latch(), Box(false))
        try await withServer(Self.slowApp(started: started, cancelled: cancelled, wrote: wrote)) { port, _ in
            let client = try await RawClient.connect(port: port)
            try await client.send(request)
            #expect(await started.wait())
            try await Self.leave(client, by: leaving)
            #expect(await cancelled.wait())
            #expect(!wrote.value)
        }
    }

    @Test(arguments: Leaving.allCases, [true, false])
    func theServerCancelsAnApplicationThatDoesNotListen(leaving: Leaving, onEventLoop: Bool) async throws {
        let (started, cancelled) = (Latch(), Latch())
        let offered = Box<Bool?>(nil)
        let ranOnEventLoop = Box<Bool?>(nil)
        let app = InlineApplication { scope, receive, _ in
            if case .http(let scope) = scope { offered.value = scope.extensions[CancelOnDisconnect.self] }
            ranOnEventLoop.value = MultiThreadedEventLoopGroup.currentEventLoop != nil
            _ = try await receive()
            started.open()
            try await Self.workUntilCancelled(opening: cancelled)
        }
        try await withServer(app, configure: { $0.runsRequestsOnEventLoop = onEventLoop }) { port, _ in
            let client = try await RawClient.connect(port: port)
            try await client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(await started.wait())
            try await Self.leave(client, by: leaving)
            #expect(await cancelled.wait())
            #expect(offered.value == true)
            #expect(ranOnEventLoop.value == onEventLoop)
        }
    }

    @Test func leavingAfterTheResponseIsCompleteCancelsNothing() async throws {
        // Work after a complete response (cleanup, say) is not the client's to cancel.
        let afterwards = Box<Result<Void, any Error>?>(nil)
        let done = Latch()
        let app = InlineApplication { _, receive, send in
            _ = try await receive()
            try await send(.start(status: .ok, headers: [.contentLength: "2"]))
            try await send(.body(ByteBuffer(string: "ok"), more: false))
            afterwards.value = await Result { try await Task.sleep(for: .milliseconds(500)) }
            done.open()
        }
        try await withServer(app) { port, _ in
            let client = try await RawClient.connect(port: port)
            try await client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            try await client.waitFor("\r\n\r\nok")
            try await client.close()
            #expect(await done.wait())
            #expect(throws: Never.self) { try afterwards.value?.get() }
        }
    }

    @Test func aHalfCloseCountsAsLeavingByDefault() async throws {
        let (started, cancelled, wrote) = (Latch(), Latch(), Box(false))
        try await withServer(Self.slowApp(started: started, cancelled: cancelled, wrote: wrote)) { port, _ in
            let client = try await RawClient.connect(port: port)
            try await client.send("GET /slow/ HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(await started.wait())
            try await client.halfClose()
            #expect(await cancelled.wait())
            #expect(try await client.waitForClose() == "")
        }
    }

    @Test func anOptionKeepsServingHalfClosedConnections() async throws {
        var router = Router()
        router.get("/") { _ in .text("still here") }
        try await withServer(WebApplication(router: router), configure: { $0.servesHalfClosedConnections = true }) {
            port, _ in
            let client = try await RawClient.connect(port: port)
            try await client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            try await client.halfClose()
            let response = try await client.waitForClose()
            #expect(response.hasPrefix("HTTP/1.1 200 OK\r\n"))
            #expect(response.hasSuffix("still here"))
        }
    }

    @Test(arguments: Leaving.allCases)
    func leavingWhileTheBodyArrivesEndsTheRequestSilently(leaving: Leaving) async throws {
        let events = Box<[String]>([])
        let (firstChunk, done) = (Latch(), Latch())
        let app = InlineApplication { _, receive, send in
            while true {
                let event = try await receive()
                events.mutate { $0.append(event == .disconnect ? "disconnect" : "body") }
                firstChunk.open()
                if event == .disconnect { break }
            }
            done.open()
        }
        try await withServer(app) { port, _ in
            let client = try await RawClient.connect(port: port)
            try await client.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\npartial")
            #expect(await firstChunk.wait())
            try await Self.leave(client, by: leaving)
            #expect(await done.wait())
            #expect(events.value == ["body", "disconnect"])
            #expect(client.text == "")
        }
    }

    @Test func leavingWhileReadsArePausedIsNoticed() async throws {
        // The application takes one chunk, then stops reading until the client has gone: the server holds
        // the socket's reads (back-pressure) and must still notice the FIN.
        let firstChunk = Latch()
        let disconnected = Latch()
        let outcome = Box<(bytes: Int, endedWithDisconnect: Bool)>((0, false))
        let done = Latch()
        let app = InlineApplication { _, receive, _ in
            var bytes = 0
            if case .body(let chunk, _) = try await receive() { bytes += chunk.readableBytes }
            firstChunk.open()
            _ = await disconnected.wait()
            while true {
                let event = try await receive()
                guard case .body(let chunk, _) = event else { break }
                bytes += chunk.readableBytes
            }
            outcome.value = (bytes, true)
            done.open()
        }
        let total = 64 * 1024 * 1024
        try await withServer(app, configure: { $0.bodyBufferBytes = 64 * 1024 }) { port, _ in
            let client = try await RawClient.connect(port: port)
            try await client.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: \(total)\r\n\r\n")
            async let sent: Void? = try? client.send(ByteBuffer(repeating: 0x61, count: 8 * 1024 * 1024))
            #expect(await firstChunk.wait())
            try await client.reset()
            _ = await sent
            disconnected.open()
            #expect(await done.wait())
            #expect(outcome.value.endedWithDisconnect)
            #expect(outcome.value.bytes < total)
        }
    }

    @Test(arguments: Leaving.allCases)
    func leavingWhileAResponseStreamsStopsIt(leaving: Leaving) async throws {
        let stopped = Latch()
        let chunksAfterLeaving = Box(0)
        let left = Box(false)
        var router = Router()
        router.get("/stream/") { _ in
            Response(
                body: ResponseBody { writer in
                    do {
                        for index in 0... {
                            try await writer.write(ByteBuffer(string: "chunk \(index)\n"))
                            if left.value { chunksAfterLeaving.mutate { $0 += 1 } }
                            try await Task.sleep(for: .milliseconds(5))
                        }
                    } catch {
                        stopped.open()
                        throw error
                    }
                })
        }
        try await withServer(WebApplication(router: router)) { port, _ in
            let client = try await RawClient.connect(port: port)
            try await client.send("GET /stream/ HTTP/1.1\r\nHost: x\r\n\r\n")
            try await client.waitFor("chunk 1\n")
            try await Self.leave(client, by: leaving)
            left.value = true
            #expect(await stopped.wait())
            #expect(chunksAfterLeaving.value <= 1)
        }
    }

    @Test func afterTheResponseReceiveReturnsDisconnectAndSendThrows() async throws {
        let afterResponse = Box<InboundEvent?>(nil)
        let sendError = Box<(any Error)?>(nil)
        let done = Latch()
        let app = InlineApplication { _, receive, send in
            _ = try await receive()
            try await send(.start(status: .ok, headers: [.contentLength: "2"]))
            try await send(.body(ByteBuffer(string: "ok"), more: false))
            afterResponse.value = try await receive()
            do { try await send(.body(ByteBuffer(string: "more"), more: false)) } catch { sendError.value = error }
            done.open()
        }
        try await withServer(app) { port, _ in
            let client = try await RawClient.connect(port: port)
            try await client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(await done.wait())
            #expect(afterResponse.value == .disconnect)
            #expect(sendError.value is ProtocolError)
            try await client.waitFor("\r\n\r\nok")
        }
    }

    @Test func sendAfterTheClientLeftThrowsAndWritesNothing() async throws {
        let sendError = Box<(any Error)?>(nil)
        let done = Latch()
        let app = InlineApplication { _, receive, send in
            _ = try await receive()
            #expect(try await receive() == .disconnect)
            do { try await send(.start(status: .ok, headers: [:])) } catch { sendError.value = error }
            done.open()
        }
        try await withServer(app) { port, _ in
            let client = try await RawClient.connect(port: port)
            try await client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            try await client.halfClose()
            #expect(await done.wait())
            #expect(sendError.value is ClientDisconnected)
            #expect(try await client.waitForClose() == "")
        }
    }
}
