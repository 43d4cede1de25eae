import HTTPTypes
import NIOCore

/// Why a ``TestClient`` call could not be made, or how its WebSocket ended.
public enum TestClientError: Error, Hashable, CustomStringConvertible {
    /// The call reads the application's events, or opens a WebSocket, which only an in-process client does.
    case needsInProcess
    /// The server closed the connection before the response's head arrived.
    case noResponse
    /// The application denied a WebSocket handshake with this HTTP response: its own, or `403 Forbidden` for a
    /// `websocketClose` before the accept (or no answer at all).
    case webSocketDenied(status: HTTPResponse.Status, headers: HTTPFields, body: ByteBuffer)
    /// The WebSocket connection is closed, with this close code and reason: the application's close, 1000 when it
    /// returned without closing, 1011 when it threw, or the client's own close.
    case webSocketClosed(code: UInt16, reason: String)

    public var description: String {
        switch self {
        case .needsInProcess:
            "Only an in-process TestClient sees the application's events and opens WebSockets."
        case .noResponse:
            "The server closed the connection before sending a response."
        case .webSocketDenied(let status, _, _):
            "The application denied the WebSocket handshake with \(status.code) \(status.reasonPhrase)."
        case .webSocketClosed(let code, let reason):
            "The WebSocket connection is closed with code \(code)\(reason.isEmpty ? "" : ": \(reason)")."
        }
    }
}
