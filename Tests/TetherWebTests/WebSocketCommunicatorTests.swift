import HTTPTypes
import NIOCore
import TestSupport
import Testing
import TetherTesting

/// The communicator keeps the WebSocket contract as a server would, event by event.
@Suite struct WebSocketCommunicatorTests {
    /// Accepts, then sends back every message until the peer leaves.
    static let echo = InlineApplication { _, receive, send in
        #expect(try await receive() == .websocketConnect)
        try await send(.websocketAccept())
        while case .websocketReceive(let message) = try await receive() {
            try await send(.websocketSend(message))
        }
    }

    @Test func theHandshakeScopeCarriesTheTargetTheSubprotocolsAndTheHandshakeFields() async throws {
        let offered = Box<WebSocketScope?>(nil)
        let app = InlineApplication { scope, receive, send in
            guard case .websocket(let webSocket) = scope else { return }
            offered.value = webSocket
            #expect(try await receive() == .websocketConnect)
            try await send(.websocketAccept(subprotocol: webSocket.subprotocols.last, headers: [.server: "echo"]))
        }
        let communicator = ApplicationCommunicator(
            app, webSocket: "/ws/a%20b/?x=1", subprotocols: ["chat", "superchat"], headers: [.origin: "http://a.test"])
        #expect(
            try await communicator.output() == .websocketAccept(subprotocol: "superchat", headers: [.server: "echo"]))
        let scope = try #require(offered.value)
        #expect(scope.path == "/ws/a b/")
        #expect(scope.request.rawPath == "/ws/a%20b/")
        #expect(scope.request.queryString == Array("x=1".utf8))
        #expect(scope.request.method == .get)
        #expect(scope.request.scheme == "ws")
        #expect(scope.subprotocols == ["chat", "superchat"])
        #expect(scope.headers[.upgrade] == "websocket")
        #expect(scope.headers[.connection] == "Upgrade")
        #expect(scope.headers[.secWebSocketVersion] == "13")
        #expect(scope.headers[.secWebSocketKey] != nil)
        #expect(scope.headers[.origin] == "http://a.test")
    }

    @Test func headersGivenReplaceTheHandshakesOwn() {
        let handshake = ApplicationCommunicator.webSocketScope("/", headers: [.secWebSocketVersion: "8"])
        guard case .websocket(let scope) = handshake else {
            Issue.record("not a WebSocket scope")
            return
        }
        #expect(scope.headers[values: .secWebSocketVersion] == ["8"])
        #expect(scope.subprotocols.isEmpty)
    }

    @Test func echoesTextAndBinaryMessagesAndTheCloseFrameCancelsTheWaitingApplication() async throws {
        let communicator = ApplicationCommunicator(Self.echo, webSocket: "/ws/echo/")
        #expect(try await communicator.output() == .websocketAccept())
        communicator.send(.websocketReceive(.text("hi")))
        #expect(try await communicator.output() == .websocketSend(.text("hi")))
        communicator.send(.websocketReceive(.binary(ByteBuffer(bytes: [0, 1, 255]))))
        #expect(try await communicator.output() == .websocketSend(.binary(ByteBuffer(bytes: [0, 1, 255]))))
        #expect(communicator.cancellationReason == nil)
        communicator.send(.websocketDisconnect(code: 1000, reason: ""))
        try await communicator.wait(timeout: .seconds(10))
        #expect(communicator.cancellationReason == .closeFrame)
    }

    @Test func messagesQueuedBeforeTheDisconnectAreDeliveredAheadOfIt() async throws {
        let seen = Box<[InboundEvent]>([])
        let app = InlineApplication { _, receive, send in
            for _ in 0..<5 {
                let event = try await receive()
                seen.mutate { $0.append(event) }
                if event == .websocketConnect { try await send(.websocketAccept()) }
            }
        }
        let communicator = ApplicationCommunicator(app, webSocket: "/")
        #expect(try await communicator.output() == .websocketAccept())
        communicator.send(.websocketReceive(.text("a")))
        communicator.send(.websocketReceive(.text("b")))
        communicator.send(.websocketDisconnect(code: 4000, reason: "bye"))
        try await communicator.wait(timeout: .seconds(10))
        #expect(
            seen.value == [
                .websocketConnect, .websocketReceive(.text("a")), .websocketReceive(.text("b")),
                .websocketDisconnect(code: 4000, reason: "bye"), .websocketDisconnect(code: 4000, reason: "bye"),
            ])
    }

    @Test func sendingBeforeTheAcceptIsAProtocolError() async throws {
        let app = InlineApplication { _, receive, send in
            _ = try await receive()
            try await send(.websocketSend(.text("too soon")))
        }
        let communicator = ApplicationCommunicator(app, webSocket: "/")
        await #expect(throws: ProtocolError.self) { try await communicator.wait(timeout: .seconds(10)) }
        #expect(try await communicator.receiveNothing(timeout: .milliseconds(10)))
    }

    @Test func acceptingBeforeReceivingTheConnectIsAProtocolError() async throws {
        let app = InlineApplication { _, _, send in try await send(.websocketAccept()) }
        let communicator = ApplicationCommunicator(app, webSocket: "/")
        await #expect(throws: ProtocolError.self) { try await communicator.wait(timeout: .seconds(10)) }
    }

    @Test func sendingAfterTheDisconnectThrowsClientDisconnected() async throws {
        let thrown = Box<(any Error)?>(nil)
        let app = InlineApplication { _, receive, send in
            _ = try await receive()
            try await send(.websocketAccept())
            #expect(try await receive() == .websocketDisconnect(code: 1001, reason: "away"))
            do { try await send(.websocketSend(.text("late"))) } catch { thrown.value = error }
        }
        let communicator = ApplicationCommunicator(app, webSocket: "/")
        #expect(try await communicator.output() == .websocketAccept())
        communicator.send(.websocketDisconnect(code: 1001, reason: "away"))
        try await communicator.wait(timeout: .seconds(10))
        #expect(thrown.value is ClientDisconnected)
        #expect(try await communicator.receiveNothing(timeout: .milliseconds(10)))
    }

    @Test func aLostConnectionIsClientClosed() async throws {
        let communicator = ApplicationCommunicator(Self.echo, webSocket: "/")
        #expect(try await communicator.output() == .websocketAccept())
        communicator.send(.websocketDisconnect(code: WebSocketCloseCode.abnormalClosure, reason: ""))
        try await communicator.wait(timeout: .seconds(10))
        #expect(communicator.cancellationReason == .clientClosed)
    }

    @Test func aDisconnectAfterTheApplicationClosedCancelsNothing() async throws {
        let after = Box<InboundEvent?>(nil)
        let app = InlineApplication { _, receive, send in
            _ = try await receive()
            try await send(.websocketAccept())
            try await send(.websocketClose(code: 4001, reason: "done"))
            after.value = try await receive()
            try Task.checkCancellation()
        }
        let communicator = ApplicationCommunicator(app, webSocket: "/")
        #expect(try await communicator.output() == .websocketAccept())
        #expect(try await communicator.output() == .websocketClose(code: 4001, reason: "done"))
        communicator.send(.websocketDisconnect(code: 4001, reason: "done"))
        try await communicator.wait(timeout: .seconds(10))
        #expect(after.value == .websocketDisconnect(code: 4001, reason: "done"))
        #expect(communicator.cancellationReason == nil)
    }

    @Test func theCloseFrameCancelsAnApplicationSleepingBetweenTicks() async throws {
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
        let communicator = ApplicationCommunicator(app, webSocket: "/ticks")
        #expect(try await communicator.output() == .websocketAccept())
        #expect(try await communicator.output() == .websocketSend(.text("tick 0")))
        communicator.send(.websocketDisconnect(code: 1000, reason: ""))
        await #expect(throws: CancellationError.self) { try await communicator.wait(timeout: .seconds(10)) }
        #expect(reason.value == .closeFrame)
        #expect(communicator.cancellationReason == .closeFrame)
    }

    @Test func aDenialIsTheApplicationsOwnEvents() async throws {
        let app = InlineApplication { _, receive, send in
            _ = try await receive()
            try await send(.start(status: .unauthorized, headers: [.wwwAuthenticate: "Bearer"]))
            try await send(.body(ByteBuffer(string: "no"), more: false))
            await #expect(throws: ProtocolError.self) { try await send(.websocketAccept()) }
        }
        let communicator = ApplicationCommunicator(app, webSocket: "/")
        #expect(try await communicator.output() == .start(status: .unauthorized, headers: [.wwwAuthenticate: "Bearer"]))
        #expect(try await communicator.output() == .body(ByteBuffer(string: "no"), more: false))
        try await communicator.wait(timeout: .seconds(10))
    }

    @Test func aCloseBeforeTheAcceptIsPassedOnAsTheApplicationSentIt() async throws {
        let app = InlineApplication { _, receive, send in
            _ = try await receive()
            try await send(.websocketClose())
        }
        let communicator = ApplicationCommunicator(app, webSocket: "/")
        #expect(try await communicator.output() == .websocketClose(code: 1000, reason: ""))
        try await communicator.wait(timeout: .seconds(10))
        #expect(communicator.cancellationReason == nil)
    }
}

extension ApplicationCommunicator {
    /// The application's next event, with time to spare on a loaded machine.
    fileprivate func output() async throws -> OutboundEvent {
        try await self.receiveOutput(timeout: .seconds(10))
    }
}
