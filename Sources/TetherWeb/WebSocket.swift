import HTTPTypes
import NIOConcurrencyHelpers
import NIOCore
import TetherGateway

/// A WebSocket handler: runs on the connection's task once the handshake is accepted, until it returns or the
/// peer leaves (which cancels it).
public typealias WebSocketHandler = @Sendable (Request, WebSocket) async throws -> Void

/// An accepted WebSocket connection, as a handler sees it: the peer's messages as an async sequence, and `send`.
///
/// ```swift
/// router.webSocket("/ws/echo/") { request, socket in
///     for try await message in socket.messages { try await socket.send(message) }
/// }
/// ```
///
/// The handler's task is cancelled the moment the peer leaves (close frame, FIN, RST, unanswered pings), so work
/// that only sends (a feed, a ticker) stops too; ``closeCode`` then tells how it left.
public struct WebSocket: Sendable {
    /// The subprotocol the handshake chose, if any.
    public let subprotocol: String?
    /// The peer's messages, in order; the sequence ends when the connection closes.
    public let messages: Messages
    private let sendEvent: Send
    private let ending: Ending

    /// The close code and reason the connection ended with (1006 if the peer left without a close frame), once
    /// it has.
    public var closeCode: (code: UInt16, reason: String)? { self.ending.value }

    init(subprotocol: String?, receive: @escaping Receive, send: @escaping Send) {
        let ending = Ending()
        self.subprotocol = subprotocol
        self.messages = Messages(receive: receive, ending: ending)
        self.sendEvent = send
        self.ending = ending
    }

    /// Sends `message`; waits while the peer is slow to read. Throws `ClientDisconnected` once the peer has gone.
    public func send(_ message: WebSocketMessage) async throws {
        try await self.sendEvent(.websocketSend(message))
    }

    /// Sends a text message.
    public func send(text: String) async throws {
        try await self.send(.text(text))
    }

    /// Sends a binary message.
    public func send(binary: ByteBuffer) async throws {
        try await self.send(.binary(binary))
    }

    /// Closes the connection with `code` (1000, another registered code, or 3000–4999) and `reason`.
    public func close(code: UInt16 = WebSocketCloseCode.normalClosure, reason: String = "") async throws {
        try await self.sendEvent(.websocketClose(code: code, reason: reason))
    }

    /// The peer's messages: an async sequence that ends when the connection closes.
    public struct Messages: AsyncSequence, Sendable {
        public typealias Element = WebSocketMessage
        let receive: Receive
        fileprivate let ending: Ending

        /// Reads messages one at a time through the scope's `receive`.
        public struct AsyncIterator: AsyncIteratorProtocol {
            let receive: Receive
            fileprivate let ending: Ending

            public mutating func next() async throws -> WebSocketMessage? {
                while true {
                    switch try await self.receive() {
                    case .websocketReceive(let message):
                        return message
                    case .websocketDisconnect(let code, let reason):
                        self.ending.value = (code, reason)
                        return nil
                    default:
                        continue
                    }
                }
            }
        }

        public func makeAsyncIterator() -> AsyncIterator {
            AsyncIterator(receive: self.receive, ending: self.ending)
        }
    }

    /// How the connection ended, shared by the socket's copies.
    fileprivate final class Ending: Sendable {
        private let box = NIOLockedValueBox<(code: UInt16, reason: String)?>(nil)

        var value: (code: UInt16, reason: String)? {
            get { self.box.withLockedValue { $0 } }
            set { self.box.withLockedValue { $0 = newValue } }
        }
    }
}

/// What a WebSocket route's middleware chain ends in: the handshake accepted, with the handler to run on it.
struct WebSocketUpgrade: Sendable {
    /// The request as the middleware passed it on (its storage, the route's parameters).
    var request: Request
    /// The route's handler.
    var handler: WebSocketHandler
    /// The subprotocol chosen: the client's first that the route speaks.
    var subprotocol: String?
}
