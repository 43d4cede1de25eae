import HTTPTypes
import NIOCore

/// The scope of one WebSocket connection: the opening handshake's request, and the subprotocols its client offers.
///
/// The request's fields (path, query, headers, client) are an ``HTTPScope``'s, so that routing and middleware read
/// them as they read an HTTP request's; its scheme is `ws` or `wss`.
public struct WebSocketScope: Sendable {
    /// The opening handshake: a GET with `Upgrade: websocket`, or an HTTP/2 extended CONNECT.
    public var request: HTTPScope
    /// The subprotocols the client offers (`Sec-WebSocket-Protocol`), in its order of preference.
    public var subprotocols: [String]

    /// A scope for the handshake `request`; the subprotocols are read from its `Sec-WebSocket-Protocol` fields.
    public init(request: HTTPScope) {
        self.request = request
        self.subprotocols = request.headers[values: .secWebSocketProtocol].flatMap { value in
            value.split(separator: ",").map { String($0.trimmingOWS) }.filter { !$0.isEmpty }
        }
    }

    /// The path, percent-decoded, without the query.
    public var path: String { self.request.path }
    /// The handshake's header fields.
    public var headers: HTTPFields { self.request.headers }
}

/// A complete WebSocket message: text (valid UTF-8) or binary.
public enum WebSocketMessage: Sendable, Hashable {
    /// A text message.
    case text(String)
    /// A binary message.
    case binary(ByteBuffer)

    /// The message's payload size in bytes.
    public var byteCount: Int {
        switch self {
        case .text(let text): text.utf8.count
        case .binary(let bytes): bytes.readableBytes
        }
    }
}

/// WebSocket close codes (RFC 6455 §7.4) that servers and applications use.
public enum WebSocketCloseCode {
    /// The purpose of the connection was fulfilled.
    public static let normalClosure: UInt16 = 1000
    /// The server is going away (shutting down).
    public static let goingAway: UInt16 = 1001
    /// The peer broke the protocol.
    public static let protocolError: UInt16 = 1002
    /// The peer sent a kind of data the endpoint cannot accept.
    public static let unsupportedData: UInt16 = 1003
    /// No status code was present in the peer's close frame; never sent on the wire.
    public static let noStatusReceived: UInt16 = 1005
    /// The connection was lost without a close frame; never sent on the wire.
    public static let abnormalClosure: UInt16 = 1006
    /// A text message was not valid UTF-8.
    public static let invalidPayload: UInt16 = 1007
    /// A message broke the endpoint's policy.
    public static let policyViolation: UInt16 = 1008
    /// A frame or message was larger than the endpoint's limit.
    public static let messageTooBig: UInt16 = 1009
    /// The endpoint met an unexpected condition (an application's error).
    public static let internalError: UInt16 = 1011

    /// Whether `code` may be sent in a close frame: the registered codes meant for the wire, and 3000–4999.
    public static func isSendable(_ code: UInt16) -> Bool {
        switch code {
        case 1000...1003, 1007...1014, 3000...4999: true
        default: false
        }
    }
}
