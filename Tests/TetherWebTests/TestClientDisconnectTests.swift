import HTTPTypes
import NIOCore
import TestSupport
import Testing
import TetherTesting
import TetherWeb

/// TestClient's `disconnectAfter`: the response so far, and whether the application's work was cancelled.
@Suite struct TestClientDisconnectTests {
    /// Streams a tick every 10 ms, forever, at /ticks; answers /quick at once.
    static func app(streamEnded: Latch) -> WebApplication {
        var router = Router()
        router.get("/ticks") { _ in
            // The writer's own loop, not a stream's onCancel: a cancellation between two reads never reaches that.
            Response(
                status: .ok, headers: [.contentType: "text/plain; charset=utf-8"],
                body: ResponseBody(stream: { writer in
                    defer { streamEnded.open() }
                    var tick = 0
                    while true {
                        try await writer.write(ByteBuffer(string: "tick \(tick)\n"))
                        tick += 1
                        try await Task.sleep(for: .milliseconds(10))
                    }
                }))
        }
        router.get("/quick") { _ in .text("quick") }
        return WebApplication(router: router)
    }

    @Test func aClientThatLeavesGetsTheResponseSoFarAndTheWorkIsCancelled() async throws {
        let streamEnded = Latch()
        let client = TestClient(Self.app(streamEnded: streamEnded))
        let response = try await client.get("/ticks", disconnectAfter: .milliseconds(300))
        #expect(response.hasHead)
        #expect(response.status == .ok)
        #expect(response.headers[.contentType] == "text/plain; charset=utf-8")
        #expect(response.text.hasPrefix("tick 0\n"))
        #expect(response.outcome == .cancelled(.clientClosed))
        #expect(response.outcome.isCancelled)
        #expect(await streamEnded.wait())
    }

    @Test func aResponseCompleteBeforeTheClientLeavesIsNotCancelled() async throws {
        let client = TestClient(Self.app(streamEnded: Latch()))
        let response = try await client.get("/quick", disconnectAfter: .seconds(5))
        #expect(response.text == "quick")
        #expect(response.outcome == .completed)
        #expect(!response.outcome.isCancelled)
    }

    @Test func aClientThatLeavesBeforeTheHeadGetsNoHead() async throws {
        let started = Latch()
        var router = Router()
        router.get("/slow") { _ in
            started.open()
            try await Task.sleep(for: .seconds(60))
            return .text("late")
        }
        let response = try await TestClient(WebApplication(router: router)).get(
            "/slow", disconnectAfter: .milliseconds(50))
        #expect(await started.wait())
        #expect(!response.hasHead)
        #expect(response.body.readableBytes == 0)
        #expect(response.outcome == .cancelled(.clientClosed))
    }

    @Test func aRawApplicationThatStopsOnItsRefusedSendIsCancelled() async throws {
        let app = InlineApplication { _, receive, send in
            _ = try await receive()
            try await send(.start(status: .ok, headers: [:]))
            while true {
                try await send(.body(ByteBuffer(string: "x"), more: true))
                try await Task.sleep(for: .milliseconds(5))
            }
        }
        let response = try await TestClient(app).get("/", disconnectAfter: .milliseconds(50))
        #expect(response.hasHead)
        #expect(response.body.readableBytes > 0)
        #expect(response.outcome == .cancelled(.clientClosed))
    }
}
