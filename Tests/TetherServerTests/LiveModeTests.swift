import HTTPTypes
import NIOCore
import TestSupport
import Testing
import TetherTesting
import TetherTestingLive
import TetherWeb

/// One test body, run in-process and against a live server on 127.0.0.1: the same answers, and the same outcome
/// when the client leaves mid-request.
@Suite struct LiveModeTests {
    /// Hello, an echo, and a minute of work that only a departing client ends.
    static func app(cancelled: Latch) -> WebApplication {
        var router = Router()
        router.get("/hello/") { request in .text("Hello \(request.query["name"] ?? "World")!") }
        router.post("/echo/") { request in Response(status: .ok, body: ResponseBody(try await request.body.bytes())) }
        router.get("/slow/") { _ in
            do {
                try await Task.sleep(for: .seconds(60))
            } catch {
                cancelled.open()
                throw error
            }
            return .text("done")
        }
        return WebApplication(router: router)
    }

    static func check(_ client: TestClient, cancelled: Latch) async throws {
        #expect(try await client.get("/hello/?name=Ada").text == "Hello Ada!")
        #expect(try await client.post("/echo/", body: "ping").text == "ping")
        #expect(try await client.get("/missing/").status == .notFound)
        let left = try await client.get("/slow/", disconnectAfter: .milliseconds(200))
        #expect(!left.hasHead)
        #expect(left.outcome == .cancelled(.clientClosed))
        #expect(await cancelled.wait())
    }

    @Test func inProcess() async throws {
        let cancelled = Latch()
        try await withTestClient(Self.app(cancelled: cancelled), mode: .inProcess) { client in
            try await Self.check(client, cancelled: cancelled)
        }
    }

    @Test func live() async throws {
        let cancelled = Latch()
        try await withTestClient(Self.app(cancelled: cancelled), mode: .live) { client in
            try await Self.check(client, cancelled: cancelled)
        }
    }
}
