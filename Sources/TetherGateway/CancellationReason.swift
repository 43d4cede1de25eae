/// Why a request's work was stopped before its response was complete: one value for every way it can end early.
///
/// The server records it when it cancels the request; the application reads it with ``current`` (for example in a
/// `catch is CancellationError`), and the access log and the metrics name it.
public enum CancellationReason: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// The client closed its connection (FIN) before the response was complete.
    ///
    /// A server cannot tell a close from a half-close; unless it serves half-closed connections, both are this.
    case clientClosed = 1
    /// The client reset its connection (RST).
    case clientReset
    /// The client half-closed its connection (FIN) before its request was complete, on a server that serves
    /// half-closed connections: the request can never be finished.
    case halfClosed
    /// The client stopped sending its body for longer than the server's body idle timeout.
    case bodyIdleTimeout
    /// The request ran past its deadline (the server's request timeout, or a route's).
    case requestDeadline
    /// The server shut down and its grace period ran out.
    case serverShutdown
    /// The request body grew past the server's limit.
    case bodyTooLarge
    /// The request body broke the HTTP framing (a bad chunk), so the rest of the connection cannot be trusted.
    case malformedBody
    /// The client reset this HTTP/2 stream (RST_STREAM); the other streams of its connection go on.
    case streamReset
    /// The client's network went silent: TCP keepalive or `TCP_USER_TIMEOUT` gave up on it, or it left an HTTP/2
    /// PING unanswered.
    case clientUnreachable
    /// The client broke its protocol: on HTTP/2 a flood of resets or CONTINUATION frames, an oversized header list
    /// or a bad frame (the connection is closed with GOAWAY, and its open streams' work with it); on a WebSocket a
    /// bad frame or text that is not UTF-8 (closed with 1002 or 1007).
    case protocolError
    /// The WebSocket peer sent a close frame before the application had closed.
    case closeFrame
    /// The WebSocket peer left a ping unanswered past the server's pong timeout.
    case pingTimeout
    /// The WebSocket peer sent a frame or a message (inflated, if compressed) over the server's limit: closed
    /// with 1009.
    case messageTooLarge

    /// The reason in a few words, as logs and metrics show it (`client_closed`, `request_deadline`, …).
    public var description: String {
        switch self {
        case .clientClosed: "client_closed"
        case .clientReset: "client_reset"
        case .halfClosed: "half_closed"
        case .bodyIdleTimeout: "body_idle_timeout"
        case .requestDeadline: "request_deadline"
        case .serverShutdown: "server_shutdown"
        case .bodyTooLarge: "body_too_large"
        case .malformedBody: "malformed_body"
        case .streamReset: "stream_reset"
        case .clientUnreachable: "client_unreachable"
        case .protocolError: "protocol_error"
        case .closeFrame: "close_frame"
        case .pingTimeout: "ping_timeout"
        case .messageTooLarge: "message_too_large"
        }
    }

    /// Whether the client itself went away, as opposed to the server ending the request.
    public var isClientDeparture: Bool {
        switch self {
        case .clientClosed, .clientReset, .halfClosed, .streamReset, .clientUnreachable, .closeFrame, .pingTimeout:
            true
        case .bodyIdleTimeout, .requestDeadline, .serverShutdown, .bodyTooLarge, .malformedBody, .protocolError,
            .messageTooLarge:
            false
        }
    }
}

/// What knows why the current request was cancelled: the server's side of a request, bound for the application's
/// task with ``CancellationReason/$source``.
public protocol CancellationSource: AnyObject, Sendable {
    /// Why the request's work was stopped, or `nil` while it has not been.
    var cancellationReason: CancellationReason? { get }
}

extension CancellationReason {
    /// The current request's cancellation source; servers bind it around the application call.
    @TaskLocal public static var source: (any CancellationSource)?

    /// Why the current request's work was stopped, or `nil` if it was not (or no server told).
    public static var current: CancellationReason? { Self.source?.cancellationReason }
}
