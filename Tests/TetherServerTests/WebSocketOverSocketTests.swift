import HTTPTypes
import Logging
import NIOCore
import NIOEmbedded
import NIOPosix
import NIOWebSocket
import ServiceLifecycle
import TestSupport
import Testing
import TetherGateway
import TetherServer
import TetherSoak
import TetherWeb

/// WebSocket over real sockets: the peer leaving by close frame, FIN, RST or silence cancels the handler at once,
/// for that reason; middleware can deny the handshake; limits close with 1009; a peer that stops reading holds the
/// handler's sends at a bounded buffer.
@Suite(.timeLimit(.minutes(2))) struct WebSocketOverSocketTests {
    /// The test routes: a ticker that records how it was cancelled, a flood that counts what it sent, an echo
    /// behind a middleware that wants a token.
    final class App: Sendable {
        let started = Latch()
        let cancelled = Latch()
        let reason = Box<CancellationReason?>(nil)
        let sentBytes = Box(0)
        let handlerRan = Box(false)

        var application: WebApplication {
            var router = Router()
            router.webSocket("/ticker/") { _, socket in
                self.started.open()
                do {
                    while true {
                        try await socket.send(text: "tick")
                        try await Task.sleep(for: .milliseconds(5))
                    }
                } catch {
                    self.reason.value = CancellationReason.current
                    self.cancelled.open()
                    throw error
                }
            }
            router.webSocket("/flood/") { _, socket in
                self.started.open()
                let chunk = ByteBuffer(repeating: 0x61, count: 16 * 1024)
                while true {
                    try await socket.send(binary: chunk)
                    self.sentBytes.value += chunk.readableBytes
                }
            }
            // One message, then a minute of work: no write races the client's leaving, whose reason is then its own
            // (a write after a FIN draws the client's RST).
            router.webSocket("/quiet/") { _, socket in
                self.started.open()
                do {
                    try await socket.send(text: "ready")
                    try await Task.sleep(for: .seconds(60))
                } catch {
                    self.reason.value = CancellationReason.current
                    self.cancelled.open()
                    throw error
                }
            }
            router.webSocket("/echo/") { _, socket in
                for try await message in socket.messages { try await socket.send(message) }
            }
            router.webSocket("/closes/") { _, socket in
                try await socket.close(code: 4001, reason: "done here")
            }
            let requireToken = InlineMiddleware { request, next in
                guard request.headers[.authorization] == "Bearer token" else {
                    return Response.text("no token", status: .unauthorized)
                }
                return try await next(request)
            }
            router.group("/private", middleware: [requireToken]) { group in
                group.webSocket("/echo/") { _, socket in
                    self.handlerRan.value = true
                    for try await message in socket.messages { try await socket.send(message) }
                }
            }
            return WebApplication(router: router)
        }
    }

    static func handshake(_ path: String, headers: String = "") -> String {
        "GET \(path) HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\(headers)\r\n"
    }

    /// A client frame, masked, as NIOWebSocket's encoder writes it.
    static func frame(_ opcode: WebSocketOpcode, _ payload: ByteBuffer, fin: Bool = true) throws -> ByteBuffer {
        let channel = EmbeddedChannel(handler: WebSocketFrameEncoder())
        try channel.writeOutbound(
            WebSocketFrame(fin: fin, opcode: opcode, maskKey: [1, 2, 3, 4], data: payload))
        var bytes = ByteBuffer()
        while var part = try channel.readOutbound(as: ByteBuffer.self) { bytes.writeBuffer(&part) }
        _ = try channel.finish()
        return bytes
    }

    static func closeFrame(_ code: UInt16, _ reason: String = "") throws -> ByteBuffer {
        var payload = ByteBuffer()
        payload.writeInteger(code)
        payload.writeString(reason)
        return try Self.frame(.connectionClose, payload)
    }

    /// Opens a WebSocket on `path` and waits for the server's 101.
    static func open(_ path: String, port: Int, headers: String = "") async throws -> RawClient {
        let client = try await RawClient.connect(port: port)
        try await client.send(Self.handshake(path, headers: headers))
        _ = try await client.waitFor("\r\n\r\n")
        #expect(client.text.hasPrefix("HTTP/1.1 101 Switching Protocols\r\n"), "\(client.text)")
        #expect(client.text.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"))
        return client
    }

    enum Leaving: String, CaseIterable, Sendable {
        case closeFrame, fin, rst
    }

    @Test(arguments: Leaving.allCases)
    func thePeerLeavingCancelsTheHandlerForHowItLeft(leaving: Leaving) async throws {
        let app = App()
        try await withServer(app.application) { port, _ in
            let client = try await Self.open("/quiet/", port: port)
            #expect(await app.started.wait())
            _ = try await client.waitFor("ready")
            switch leaving {
            case .closeFrame: try await client.send(Self.closeFrame(4000, "bye"))
            case .fin: try await client.close()
            case .rst: try await client.reset()
            }
            #expect(await app.cancelled.wait())
            let expected: [Leaving: CancellationReason] = [
                .closeFrame: .closeFrame, .fin: .clientClosed, .rst: .clientReset,
            ]
            #expect(app.reason.value == expected[leaving])
            if leaving == .closeFrame {
                // The server answers with the peer's code, then closes the connection.
                try await client.waitForClose()
                let bytes = try await client.waitForBytes(0)
                #expect(bytes.suffix(4) == [0x88, 0x02, 0x0F, 0xA0], "\(bytes.suffix(8))")
            }
        }
    }

    /// A peer that answers nothing, pings included: the server's pong timeout cancels the handler.
    @Test func aSilentPeerIsFoundOutByItsUnansweredPings() async throws {
        let app = App()
        let configure: (inout Server.Configuration) -> Void = {
            $0.webSocket.pingInterval = .milliseconds(100)
            $0.webSocket.pongTimeout = .milliseconds(200)
        }
        try await withServer(app.application, configure: configure) { port, _ in
            let client = try await Self.open("/ticker/", port: port)
            #expect(await app.cancelled.wait())
            #expect(app.reason.value == .pingTimeout)
            try await client.waitForClose()
            // The ping went out first: a ping (0x89) with the server's four-byte payload.
            let bytes = try await client.waitForBytes(0)
            #expect(bytes.indices.contains { bytes[$0...].starts(with: [0x89, 0x04]) })
        }
    }

    @Test func aPeerThatAnswersPingsStaysConnected() async throws {
        let app = App()
        try await withServer(app.application, configure: { $0.webSocket.pingInterval = .milliseconds(50) }) {
            port, _ in
            let client = try await Self.open("/ticker/", port: port)
            // Pongs sent ahead count as answers: any pong shows the peer is there.
            for _ in 0..<10 {
                try await client.send(Self.frame(.pong, ByteBuffer()))
                try await Task.sleep(for: .milliseconds(40))
            }
            #expect(app.reason.value == nil)
            try await client.send(Self.closeFrame(1000))
            #expect(await app.cancelled.wait())
            #expect(app.reason.value == .closeFrame)
        }
    }

    @Test func middlewareDeniesTheHandshakeWithItsResponse() async throws {
        let app = App()
        try await withServer(app.application) { port, _ in
            let denied = try await RawClient.connect(port: port)
            try await denied.send(Self.handshake("/private/echo/"))
            let answer = try await denied.waitForClose()
            #expect(answer.hasPrefix("HTTP/1.1 401 Unauthorized\r\n"), "\(answer)")
            #expect(answer.hasSuffix("no token"))
            #expect(!app.handlerRan.value)

            let client = try await Self.open("/private/echo/", port: port, headers: "Authorization: Bearer token\r\n")
            try await client.send(Self.frame(.text, ByteBuffer(string: "hello")))
            _ = try await client.waitFor("hello")
            #expect(app.handlerRan.value)
            try await client.close()
        }
    }

    @Test func aMessageOverTheLimitClosesWith1009() async throws {
        let app = App()
        try await withServer(app.application, configure: { $0.webSocket.maxMessageSize = 1000 }) { port, _ in
            let client = try await Self.open("/private/echo/", port: port, headers: "Authorization: Bearer token\r\n")
            try await client.send(Self.frame(.binary, ByteBuffer(repeating: 1, count: 600), fin: false))
            try await client.send(Self.frame(.continuation, ByteBuffer(repeating: 1, count: 600)))
            try await client.waitForClose()
            let bytes = try await client.waitForBytes(0)
            #expect(bytes.suffix(4) == [0x88, 0x02, 0x03, 0xF1], "\(bytes.suffix(8))")
        }
    }

    @Test func theApplicationsCloseReachesThePeerWithItsCodeAndReason() async throws {
        try await withServer(App().application) { port, _ in
            let client = try await Self.open("/closes/", port: port)
            _ = try await client.waitFor("done here")
            let reason = Array("done here".utf8)
            #expect(try await client.waitForBytes(0).suffix(13) == [0x88, 0x0B, 0x0F, 0xA1] + reason)
            // The server waits for the peer's close before closing the connection.
            try await client.send(Self.closeFrame(4001))
            _ = try await client.waitForClose()
        }
    }

    /// A peer that never reads: the handler's sends wait once the socket's buffers are full, instead of queueing
    /// in memory.
    @Test func aPeerThatStopsReadingHoldsTheHandlersSends() async throws {
        let app = App()
        try await withServer(app.application) { port, _ in
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .channelOption(.autoRead, value: false)
                .connect(host: "127.0.0.1", port: port).get()
            defer { channel.close(promise: nil) }
            try await channel.writeAndFlush(ByteBuffer(string: Self.handshake("/flood/"))).get()
            #expect(await app.started.wait())
            var held = 0
            for _ in 0..<50 {
                try await Task.sleep(for: .milliseconds(100))
                if app.sentBytes.value == held { break }
                held = app.sentBytes.value
            }
            try await Task.sleep(for: .milliseconds(300))
            // Kernel buffers on loopback hold a few MiB; without back-pressure this would grow without end.
            #expect(app.sentBytes.value == held)
            #expect(held < 64 << 20, "\(held) bytes sent to a peer that reads nothing")
        }
    }

    /// A graceful shutdown does not wait for a WebSocket, which could live for hours: it is told the server is going
    /// away (1001), and its handler is cancelled for that reason.
    @Test func aGracefulShutdownClosesWebSocketsWith1001() async throws {
        let app = App()
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        var configuration = Server.Configuration(host: "127.0.0.1", port: 0)
        configuration.lifespan = .off
        let server = Server(application: app.application, configuration: configuration, logger: logger)
        let group = ServiceGroup(services: [server], logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let port = try await server.localAddress.port!
            let client = try await Self.open("/ticker/", port: port)
            #expect(await app.started.wait())
            await group.triggerGracefulShutdown()
            #expect(await app.cancelled.wait())
            #expect(app.reason.value == .serverShutdown)
            try await client.waitForClose()
            let bytes = try await client.waitForBytes(0)
            let goingAway: [UInt8] = [0x88, 0x11, 0x03, 0xE9] + Array("server shutdown".utf8)
            #expect(bytes.suffix(goingAway.count).elementsEqual(goingAway), "\(bytes.suffix(24))")
            try await tasks.waitForAll()
        }
    }
}
