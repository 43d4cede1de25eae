import HTTPTypes
import NIOCore
import TestSupport
import Testing
import TetherTesting

/// TestClient's WebSocket connections: the handshake, messages both ways, and every way a connection ends.
@Suite struct TestClientWebSocketTests {
    /// Accepts with the first subprotocol offered, then sends back every message until the peer leaves, recording
    /// how it left.
    static func echo(departure: Box<InboundEvent?> = Box(nil)) -> InlineApplication {
        InlineApplication { scope, receive, send in
            guard case .websocket(let webSocket) = scope else { return }
            #expect(try await receive() == .websocketConnect)
            try await send(.websocketAccept(subprotocol: webSocket.subprotocols.first))
            while true {
                let event = try await receive()
                guard case .websocketReceive(let message) = event else {
                    departure.value = event
                    return
                }
                try await send(.websocketSend(message))
            }
        }
    }

    struct Failure: Error, Equatable {}

    @Test func theApplicationAcceptsWithASubprotocolAndHeaders() async throws {
        let app = InlineApplication { scope, receive, send in
            guard case .websocket(let webSocket) = scope else { return }
            #expect(webSocket.path == "/ws/chat/")
            #expect(webSocket.request.queryString == Array("room=1".utf8))
            #expect(webSocket.headers[.authorization] == "Bearer t")
            _ = try await receive()
            let chosen = webSocket.subprotocols.first { $0 == "chat.v2" }
            try await send(.websocketAccept(subprotocol: chosen, headers: [.server: "tether"]))
            _ = try await receive()
        }
        try await TestClient(app).webSocket(
            "/ws/chat/?room=1", subprotocols: ["chat.v1", "chat.v2"], headers: [.authorization: "Bearer t"]
        ) { socket in
            #expect(socket.subprotocol == "chat.v2")
            #expect(socket.headers[.server] == "tether")
            try await socket.close(code: 1000)
            #expect(socket.isClosed)
        }
    }

    @Test func textAndBinaryMessagesComeBackAndLeavingWithoutClosingCloses1000() async throws {
        let departure = Box<InboundEvent?>(nil)
        let client = TestClient(Self.echo(departure: departure))
        let subprotocol = try await client.webSocket("/ws/echo/", subprotocols: ["chat"]) { socket in
            try await socket.send(.text("hi"))
            #expect(try await socket.receive() == .text("hi"))
            try await socket.send(.binary(ByteBuffer(bytes: [0, 1, 255])))
            #expect(try await socket.receive() == .binary(ByteBuffer(bytes: [0, 1, 255])))
            return socket.subprotocol
        }
        #expect(subprotocol == "chat")
        #expect(departure.value == .websocketDisconnect(code: 1000, reason: ""))
    }

    @Test func theApplicationsCloseEndsReceivingAndTheClientAnswersIt() async throws {
        let after = Box<InboundEvent?>(nil)
        let app = InlineApplication { _, receive, send in
            _ = try await receive()
            try await send(.websocketAccept())
            try await send(.websocketSend(.text("last")))
            try await send(.websocketClose(code: 4000, reason: "done"))
            after.value = try await receive()
        }
        try await TestClient(app).webSocket("/") { socket in
            let message = try await socket.receive()
            #expect(message == .text("last"))
            await #expect(throws: TestClientError.webSocketClosed(code: 4000, reason: "done")) {
                try await socket.receive()
            }
            await #expect(throws: TestClientError.webSocketClosed(code: 4000, reason: "done")) {
                try await socket.send(.text("too late"))
            }
        }
        #expect(after.value == .websocketDisconnect(code: 4000, reason: "done"))
    }

    @Test func aCloseBeforeTheAcceptDeniesWith403() async throws {
        let after = Box<InboundEvent?>(nil)
        let app = InlineApplication { _, receive, send in
            _ = try await receive()
            try await send(.websocketClose())
            after.value = try await receive()
        }
        await #expect(throws: TestClientError.webSocketDenied(status: .forbidden, headers: [:], body: ByteBuffer())) {
            try await TestClient(app).webSocket("/") { _ in Issue.record("the handshake was denied") }
        }
        #expect(after.value == .websocketDisconnect(code: WebSocketCloseCode.abnormalClosure, reason: ""))
    }

    @Test func anHTTPResponseDeniesWithItsStatusHeadersAndBody() async throws {
        let app = InlineApplication { _, receive, send in
            _ = try await receive()
            try await send(.start(status: .unauthorized, headers: [.wwwAuthenticate: "Bearer"]))
            try await send(.body(ByteBuffer(string: "log in "), more: true))
            try await send(.body(ByteBuffer(string: "first"), more: false))
        }
        let denied = TestClientError.webSocketDenied(
            status: .unauthorized, headers: [.wwwAuthenticate: "Bearer"], body: ByteBuffer(string: "log in first"))
        await #expect(throws: denied) {
            try await TestClient(app).webSocket("/") { _ in Issue.record("the handshake was denied") }
        }
    }

    @Test func anApplicationThatNeverAnswersIsDeniedWith403() async throws {
        let app = InlineApplication { _, receive, _ in _ = try await receive() }
        await #expect(throws: TestClientError.webSocketDenied(status: .forbidden, headers: [:], body: ByteBuffer())) {
            try await TestClient(app).webSocket("/") { _ in Issue.record("the handshake was denied") }
        }
    }

    @Test func sendingBeforeTheAcceptThrowsAProtocolErrorInTheApplication() async throws {
        let thrown = Box<(any Error)?>(nil)
        let app = InlineApplication { _, receive, send in
            _ = try await receive()
            do { try await send(.websocketSend(.text("too soon"))) } catch { thrown.value = error }
            try await send(.websocketAccept())
        }
        try await TestClient(app).webSocket("/") { socket in
            await #expect(throws: TestClientError.webSocketClosed(code: 1000, reason: "")) {
                try await socket.receive()
            }
        }
        #expect(thrown.value is ProtocolError)
    }

    @Test func theClientsCloseCancelsAnApplicationSendingTicks() async throws {
        let reason = Box<CancellationReason?>(nil)
        let app = InlineApplication { _, receive, send in
            _ = try await receive()
            try await send(.websocketAccept())
            do {
                for tick in 0... {
                    try await send(.websocketSend(.text("tick \(tick)")))
                    try await Task.sleep(for: .seconds(60))
                }
            } catch is CancellationError {
                reason.value = CancellationReason.current
                throw CancellationError()
            }
        }
        try await TestClient(app).webSocket("/ticks") { socket in
            #expect(try await socket.receive() == .text("tick 0"))
            try await socket.close(code: 1001, reason: "going away")
            await #expect(throws: TestClientError.webSocketClosed(code: 1001, reason: "going away")) {
                try await socket.receive()
            }
        }
        #expect(reason.value == .closeFrame)
    }

    @Test func aLostConnectionIsClientClosed() async throws {
        let reason = Box<CancellationReason?>(nil)
        let app = InlineApplication { _, receive, send in
            _ = try await receive()
            try await send(.websocketAccept())
            try await send(.websocketSend(.text("ready")))
            do { try await Task.sleep(for: .seconds(60)) } catch { reason.value = CancellationReason.current }
        }
        try await TestClient(app).webSocket("/") { socket in
            #expect(try await socket.receive() == .text("ready"))
            try await socket.close(code: WebSocketCloseCode.abnormalClosure)
        }
        #expect(reason.value == .clientClosed)
    }

    @Test func anApplicationThatReturnsWithoutClosingCloses1000() async throws {
        let app = InlineApplication { _, receive, send in
            _ = try await receive()
            try await send(.websocketAccept())
            try await send(.websocketSend(.text("bye")))
        }
        try await TestClient(app).webSocket("/") { socket in
            let message = try await socket.receive()
            #expect(message == .text("bye"))
            await #expect(throws: TestClientError.webSocketClosed(code: WebSocketCloseCode.normalClosure, reason: "")) {
                try await socket.receive()
            }
            #expect(socket.isClosed)
        }
    }

    @Test func anApplicationThatThrowsAfterTheAcceptCloses1011AndItsErrorIsRethrown() async throws {
        let app = InlineApplication { _, receive, send in
            _ = try await receive()
            try await send(.websocketAccept())
            _ = try await receive()
            throw Failure()
        }
        let closed = Box<(any Error)?>(nil)
        await #expect(throws: Failure()) {
            try await TestClient(app).webSocket("/") { socket in
                try await socket.send(.text("boom"))
                do { _ = try await socket.receive() } catch { closed.value = error }
            }
        }
        #expect(
            closed.value as? TestClientError == .webSocketClosed(code: WebSocketCloseCode.internalError, reason: ""))
    }

    @Test func anApplicationThatThrowsBeforeAnsweringHasItsErrorRethrown() async throws {
        let app = InlineApplication { _, receive, _ in
            _ = try await receive()
            throw Failure()
        }
        await #expect(throws: Failure()) {
            try await TestClient(app).webSocket("/") { _ in Issue.record("the handshake failed") }
        }
    }

    @Test func receiveTimesOutWhenTheApplicationSendsNothing() async throws {
        try await TestClient(Self.echo()).webSocket("/") { socket in
            await #expect(throws: CommunicatorError.timedOut(.milliseconds(20))) {
                try await socket.receive(timeout: .milliseconds(20))
            }
        }
    }

    @Test func aClientOfAnotherTransportCannotOpenAWebSocket() async throws {
        struct NoTransport: TestTransport {
            func send(_ request: TestRequest, disconnectAfter delay: Duration?) async throws -> TestResponse {
                TestResponse()
            }
        }
        await #expect(throws: TestClientError.needsInProcess) {
            try await TestClient(transport: NoTransport()).webSocket("/") { _ in }
        }
    }
}
