import HTTPTypes
import NIOCore

/// An event the server delivers to the application through `receive()`.
public enum InboundEvent: Sendable, Equatable {
    /// A chunk of the request body; `more` is false on the last one.
    case body(ByteBuffer, more: Bool)
    /// The client has gone, or the response is complete: every later `receive()` returns this too.
    case disconnect
    /// The lifespan scope's start-up: the server accepts no connection before the application answers.
    case startup
    /// The lifespan scope's shutdown: sent once the server has drained its connections.
    case shutdown
    /// A WebSocket client asks to connect: the first event of a WebSocket scope, answered by
    /// ``OutboundEvent/websocketAccept(subprotocol:headers:)`` or a denial.
    case websocketConnect
    /// A complete message from the WebSocket peer.
    case websocketReceive(WebSocketMessage)
    /// The WebSocket connection is over, with the peer's close code (1006 if it left without a close frame) and
    /// reason: every later `receive()` returns this too.
    case websocketDisconnect(code: UInt16, reason: String)
}

/// An event the application hands to the server through `send(_:)`.
public enum OutboundEvent: Sendable, Equatable {
    /// The response head. `trailers` promises a ``trailers(_:)`` event after the last body chunk.
    case start(status: HTTPResponse.Status, headers: HTTPFields, trailers: Bool = false)
    /// A chunk of the response body; `more` is false on the last one.
    case body(ByteBuffer, more: Bool)
    /// Bytes of a file, sent by the server without passing through the application; ends the body.
    ///
    /// Only for scopes whose extensions contain ``FileSend``.
    case file(FileRange)
    /// The response trailers, after the last body chunk of a response that promised them.
    case trailers(HTTPFields)
    /// The application finished its start-up.
    case startupComplete
    /// The application cannot start; the server stops with `message`.
    case startupFailed(message: String)
    /// The application finished its shutdown.
    case shutdownComplete
    /// The application's shutdown failed; the server logs `message`.
    case shutdownFailed(message: String)
    /// Accepts a WebSocket connection, choosing one of the client's subprotocols (or none), with extra handshake
    /// response fields.
    case websocketAccept(subprotocol: String? = nil, headers: HTTPFields = [:])
    /// Sends a message to the WebSocket peer.
    case websocketSend(WebSocketMessage)
    /// Closes the WebSocket connection with `code` and `reason`; before the accept, denies it with 403.
    case websocketClose(code: UInt16 = 1000, reason: String = "")
}

/// A byte range of a file on disk, for ``OutboundEvent/file(_:)``.
public struct FileRange: Sendable, Hashable {
    /// The file's absolute path.
    public var path: String
    /// The first byte to send.
    public var offset: Int64
    /// How many bytes to send.
    public var count: Int64

    /// A range of `count` bytes of the file at `path`, starting at `offset`.
    public init(path: String, offset: Int64 = 0, count: Int64) {
        self.path = path
        self.offset = offset
        self.count = count
    }
}

extension InboundEvent: CustomStringConvertible {
    /// The event's name in ASGI's terms, as error messages show it.
    public var description: String {
        switch self {
        case .body: "http.request"
        case .disconnect: "http.disconnect"
        case .startup: "lifespan.startup"
        case .shutdown: "lifespan.shutdown"
        case .websocketConnect: "websocket.connect"
        case .websocketReceive: "websocket.receive"
        case .websocketDisconnect: "websocket.disconnect"
        }
    }
}

extension OutboundEvent: CustomStringConvertible {
    /// The event's name in ASGI's terms, as error messages show it.
    public var description: String {
        switch self {
        case .start: "http.response.start"
        case .body: "http.response.body"
        case .file: "http.response.pathsend"
        case .trailers: "http.response.trailers"
        case .startupComplete: "lifespan.startup.complete"
        case .startupFailed: "lifespan.startup.failed"
        case .shutdownComplete: "lifespan.shutdown.complete"
        case .shutdownFailed: "lifespan.shutdown.failed"
        case .websocketAccept: "websocket.accept"
        case .websocketSend: "websocket.send"
        case .websocketClose: "websocket.close"
        }
    }
}
