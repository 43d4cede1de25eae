import HTTPTypes
import NIOHTTP1

/// Whether a request head asks for a WebSocket (RFC 6455 §4.2.1), and whether it asks properly.
enum WebSocketHandshake: Equatable {
    /// An ordinary HTTP request.
    case notWebSocket
    /// A valid opening handshake: its application gets a `websocket` scope.
    case valid
    /// A WebSocket handshake that breaks the rules: refused with `status` and `message`.
    case invalid(HTTPResponse.Status, String)

    /// The verdict on `head`: a request is a WebSocket handshake when its `Upgrade` names `websocket` and its
    /// `Connection` names `upgrade`.
    static func check(_ head: HTTPRequestHead) -> WebSocketHandshake {
        let headers = head.headers
        guard headers[canonicalForm: "upgrade"].contains(where: { $0.lowercased() == "websocket" }),
            headers[canonicalForm: "connection"].contains(where: { $0.lowercased() == "upgrade" })
        else { return .notWebSocket }
        guard head.method == .GET else {
            return .invalid(.badRequest, "A WebSocket handshake is a GET request.")
        }
        guard head.version.major == 1, head.version.minor >= 1 else {
            return .invalid(.badRequest, "A WebSocket handshake needs HTTP/1.1.")
        }
        guard headers["content-length"].allSatisfy({ $0 == "0" }),
            !headers.contains(name: "transfer-encoding")
        else { return .invalid(.badRequest, "A WebSocket handshake has no body.") }
        let versions = headers["sec-websocket-version"]
        guard versions.count == 1, versions[0] == "13" else {
            return .invalid(.upgradeRequired, "This server speaks WebSocket version 13.")
        }
        let keys = headers["sec-websocket-key"]
        guard keys.count == 1, Self.isValidKey(keys[0]) else {
            return .invalid(.badRequest, "Sec-WebSocket-Key must be 16 bytes in base64.")
        }
        return .valid
    }

    /// Whether `key` is the base64 form of 16 bytes: 22 characters of the alphabet and `==`.
    static func isValidKey(_ key: String) -> Bool {
        let bytes = Array(key.utf8)
        guard bytes.count == 24, bytes[22] == UInt8(ascii: "="), bytes[23] == UInt8(ascii: "=") else { return false }
        return bytes[..<22].allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "+"), UInt8(ascii: "/"):
                true
            default: false
            }
        }
    }

    /// The verdict on an HTTP/2 stream's `head` (RFC 8441): a WebSocket when its extended CONNECT's `:protocol`
    /// is `websocket`; the key and the accept value of HTTP/1.1 have no part in it.
    static func check(_ head: HTTPRequestHead, extendedConnect name: String?) -> WebSocketHandshake {
        guard let name else { return .notWebSocket }
        guard head.method == .CONNECT, name.lowercased() == "websocket" else {
            return .invalid(.badRequest, "This server tunnels only WebSocket through an extended CONNECT.")
        }
        let versions = head.headers["sec-websocket-version"]
        guard versions.count == 1, versions[0] == "13" else {
            return .invalid(.upgradeRequired, "This server speaks WebSocket version 13.")
        }
        return .valid
    }
}
