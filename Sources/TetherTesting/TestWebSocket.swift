import HTTPTypes
import NIOConcurrencyHelpers
import NIOCore
import TetherGateway

/// A WebSocket connection that ``TestClient/webSocket(_:subprotocols:headers:_:)`` opened to an application, in
/// process: the client's end, with an ``ApplicationCommunicator`` playing the server.
///
/// Messages go to the application with ``send(_:)`` and come from it with ``receive(timeout:)``, which throws
/// ``TestClientError/webSocketClosed(code:reason:)`` once the connection is closed. The client answers the
/// application's close with a close frame of the same code, as browsers do; ``close(code:reason:)`` closes from the
/// client's side, which cancels the application's task if it had not closed, as a server does.
public final class TestWebSocket: Sendable {
    /// The subprotocol the application chose from those the client offered, if any.
    public let subprotocol: String?
    /// The header fields the application added to its accept.
    public let headers: HTTPFields

    private let communicator: ApplicationCommunicator
    /// ``TestClientError/webSocketClosed(code:reason:)`` with the close code and reason, once the connection is
    /// closed by either side.
    private let closed = NIOLockedValueBox<TestClientError?>(nil)

    private init(communicator: ApplicationCommunicator, subprotocol: String?, headers: HTTPFields) {
        self.communicator = communicator
        self.subprotocol = subprotocol
        self.headers = headers
    }

    /// Whether the connection is closed, by the application or by the client.
    public var isClosed: Bool {
        self.closed.withLockedValue { $0 != nil }
    }

    /// Sends `message` to the application; throws ``TestClientError/webSocketClosed(code:reason:)`` once the
    /// connection is closed.
    public func send(_ message: WebSocketMessage) async throws {
        if let closed = self.closed.withLockedValue({ $0 }) { throw closed }
        self.communicator.send(.websocketReceive(message))
    }

    /// The application's next message.
    ///
    /// Throws ``TestClientError/webSocketClosed(code:reason:)`` once the connection is closed: by the application's
    /// close, with its code and reason; by the application returning without closing, with 1000 (1011 if it threw,
    /// as a server closes); or by ``close(code:reason:)``. Throws ``CommunicatorError/timedOut(_:)`` if nothing came
    /// within `timeout`, so that a test cannot hang.
    public func receive(timeout: Duration = .seconds(1)) async throws -> WebSocketMessage {
        if let closed = self.closed.withLockedValue({ $0 }) { throw closed }
        let event: OutboundEvent
        do {
            event = try await self.communicator.receiveOutput(timeout: timeout)
        } catch CommunicatorError.timedOut(let timeout) {
            throw CommunicatorError.timedOut(timeout)
        } catch let error where !Task.isCancelled {
            // The application ended without closing: the server closes for it, 1011 if it failed.
            let code =
                error is CommunicatorError ? WebSocketCloseCode.normalClosure : WebSocketCloseCode.internalError
            throw self.closedByServer(code: code, reason: "", answer: false)
        }
        switch event {
        case .websocketSend(let message):
            return message
        case .websocketClose(let code, let reason):
            throw self.closedByServer(code: code, reason: reason, answer: true)
        default:
            // The communicator's machine lets nothing else through after the accept.
            throw ProtocolError("\(event) sent on an accepted WebSocket")
        }
    }

    /// Closes the connection from the client's side with `code` and `reason`; the application receives
    /// `websocketDisconnect`, and its task is cancelled if it had not closed. Does nothing once the connection is
    /// closed.
    ///
    /// Code 1006 plays a connection lost without a close frame (`CancellationReason.clientClosed` rather than
    /// `closeFrame`).
    public func close(code: UInt16 = WebSocketCloseCode.normalClosure, reason: String = "") async throws {
        if self.markClosed(code: code, reason: reason) {
            self.communicator.send(.websocketDisconnect(code: code, reason: reason))
        }
    }

    /// Records the server's close and returns it; with `answer`, the client's close frame echoes it, as a client's
    /// does.
    private func closedByServer(code: UInt16, reason: String, answer: Bool) -> TestClientError {
        if self.markClosed(code: code, reason: reason), answer {
            self.communicator.send(.websocketDisconnect(code: code, reason: reason))
        }
        return self.closed.withLockedValue { $0 } ?? .webSocketClosed(code: code, reason: reason)
    }

    /// Records the close, unless the connection was closed already; returns whether it was not.
    private func markClosed(code: UInt16, reason: String) -> Bool {
        self.closed.withLockedValue { closed in
            guard closed == nil else { return false }
            closed = .webSocketClosed(code: code, reason: reason)
            return true
        }
    }

    /// Opens a connection to `application`: returns once it accepted, throws
    /// ``TestClientError/webSocketDenied(status:headers:body:)`` once its denial is complete.
    static func open(
        _ application: some Application, target: String, subprotocols: [String], headers: HTTPFields,
        timeout: Duration
    ) async throws -> TestWebSocket {
        let communicator = ApplicationCommunicator(
            application, webSocket: target, subprotocols: subprotocols, headers: headers)
        var denial = TestResponse()
        var progress = ResponseStateMachine()
        while true {
            let event: OutboundEvent
            do {
                event = try await communicator.receiveOutput(timeout: timeout)
            } catch CommunicatorError.applicationFinished where !progress.hasStarted {
                // An application that returns without answering the handshake is denied for, with 403.
                throw TestClientError.webSocketDenied(status: .forbidden, headers: [:], body: ByteBuffer())
            }
            switch event {
            case .websocketAccept(let subprotocol, let headers):
                return TestWebSocket(communicator: communicator, subprotocol: subprotocol, headers: headers)
            case .websocketClose:
                try await Self.endDenial(of: communicator, timeout: timeout)
                throw TestClientError.webSocketDenied(status: .forbidden, headers: [:], body: ByteBuffer())
            default:
                try progress.accept(event)
                try await denial.append(event)
                if progress.isComplete {
                    try await Self.endDenial(of: communicator, timeout: timeout)
                    throw TestClientError.webSocketDenied(
                        status: denial.status, headers: denial.headers, body: denial.body)
                }
            }
        }
    }

    /// After a denial the server closes the connection, without a close frame: the application's `receive()`
    /// returns `websocketDisconnect` with 1006. Rethrows the application's error if it failed.
    private static func endDenial(of communicator: ApplicationCommunicator, timeout: Duration) async throws {
        communicator.send(.websocketDisconnect(code: WebSocketCloseCode.abnormalClosure, reason: ""))
        try await Self.wait(for: communicator, timeout: timeout)
    }

    /// Closes the connection with 1000 unless it is closed, and waits for the application to return; rethrows its
    /// error if it failed, but not the `CancellationError` or `ClientDisconnected` with which a cancelled
    /// application stops.
    func finish(timeout: Duration) async throws {
        try await self.close()
        try await Self.wait(for: self.communicator, timeout: timeout)
    }

    /// Waits for the application; the departure's own errors are how it stops, not failures.
    private static func wait(for communicator: ApplicationCommunicator, timeout: Duration) async throws {
        do {
            try await communicator.wait(timeout: timeout)
        } catch let error where (error is ClientDisconnected || error is CancellationError) && !Task.isCancelled {
            return
        }
    }
}
