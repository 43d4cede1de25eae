import HTTPTypes
import NIOCore
import TestSupport
import Testing
import TetherGateway
import TetherServer
import TetherSoak
import TetherWeb

/// Every way a request ends early reaches the application as a ``CancellationReason``, over real sockets.
@Suite struct CancellationReasonTests {
    /// A handler that works for a minute unless cancelled, and records why it was.
    static func app(started: Latch, cancelled: Latch, reason: Box<CancellationReason?>) -> WebApplication {
        var router = Router()
        for method in [HTTPRequest.Method.get, .post] {
            router.on(method, "/slow/") { request in
                _ = try await request.body.bytes()
                started.open()
                try await DisconnectOverSocketTests.workUntilCancelled(opening: cancelled, recording: reason)
                return .text("done")
            }
        }
        router.get("/stream/") { _ in
            Response(
                status: .ok,
                body: ResponseBody(stream: { writer in
                    try await writer.write(ByteBuffer(string: "first\n"))
                    started.open()
                    try await DisconnectOverSocketTests.workUntilCancelled(opening: cancelled, recording: reason)
                }))
        }
        return WebApplication(router: router)
    }

    @Test(arguments: [(false, CancellationReason.clientClosed), (true, .clientReset)])
    func leavingByFINOrRSTIsNamed(reset: Bool, expected: CancellationReason) async throws {
        let (started, cancelled, reason) = (Latch(), Latch(), Box<CancellationReason?>(nil))
        try await withServer(Self.app(started: started, cancelled: cancelled, reason: reason)) { port, _ in
            let client = try await RawClient.connect(port: port)
            try await client.send("POST /slow/ HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody")
            #expect(await started.wait())
            if reset { try await client.reset() } else { try await client.close() }
            #expect(await cancelled.wait())
            #expect(reason.value == expected)
        }
    }

    @Test func aStalledBodyIsCutWith408AndTheApplicationSeesDisconnect() async throws {
        let sawDisconnect = Latch()
        let reason = Box<CancellationReason?>(nil)
        let app = InlineApplication { _, receive, _ in
            while try await receive() != .disconnect {}
            reason.value = CancellationReason.current
            sawDisconnect.open()
        }
        try await withServer(app, configure: { $0.bodyIdleTimeout = .milliseconds(200) }) { port, _ in
            let client = try await RawClient.connect(port: port)
            try await client.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
            let text = try await client.waitForClose()
            #expect(text.hasPrefix("HTTP/1.1 408 "), "\(text)")
            #expect(await sawDisconnect.wait())
            #expect(reason.value == .bodyIdleTimeout)
        }
    }

    /// Before the response: 504. Once a stream has begun: the connection closes after what was sent.
    @Test(arguments: [
        ("/slow/", "HTTP/1.1 504 ", "The request took longer than allowed"), ("/stream/", "HTTP/1.1 200 ", "first\n"),
    ])
    func theRequestDeadlineCancelsTheHandler(path: String, answer: String, sent: String) async throws {
        let (started, cancelled, reason) = (Latch(), Latch(), Box<CancellationReason?>(nil))
        try await withServer(
            Self.app(started: started, cancelled: cancelled, reason: reason),
            configure: { $0.requestTimeout = .seconds(1) }
        ) { port, _ in
            let client = try await RawClient.connect(port: port)
            try await client.send("GET \(path) HTTP/1.1\r\nHost: x\r\n\r\n")
            // A deadline that passes before the handler starts spares it; this one leaves it time to start.
            #expect(await started.wait())
            let text = try await client.waitForClose()
            #expect(text.hasPrefix(answer), "\(text)")
            #expect(text.contains(sent))
            #expect(text.components(separatedBy: "HTTP/1.1 ").count == 2, "one answer only: \(text)")
            #expect(await cancelled.wait())
            #expect(reason.value == .requestDeadline)
        }
    }

    @Test func aRequestThatCompletesHasNoReason() async throws {
        let reason = Box<CancellationReason?>(.serverShutdown)
        let app = InlineApplication { _, receive, send in
            _ = try await receive()
            try await send(.start(status: .ok, headers: [.contentLength: "2"]))
            try await send(.body(ByteBuffer(string: "ok"), more: false))
            reason.value = CancellationReason.current
        }
        try await withServer(app) { port, _ in
            let client = try await RawClient.connect(port: port)
            try await client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            _ = try await client.waitFor("\r\n\r\nok")
            try await client.close()
        }
        #expect(reason.value == nil)
    }
}
