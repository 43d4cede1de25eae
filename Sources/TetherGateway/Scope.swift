import HTTPTypes
import NIOCore

/// What a connection is: one per request for HTTP, one per connection for WebSocket, one per server run for
/// lifespan.
public enum Scope: Sendable {
    /// One HTTP request.
    case http(HTTPScope)
    /// One WebSocket connection, from its handshake to its close.
    case websocket(WebSocketScope)
    /// The server's start-up and shutdown, around all connections.
    case lifespan(LifespanScope)

    /// The scope's type in ASGI's terms: `http`, `websocket` or `lifespan`.
    public var type: String {
        switch self {
        case .http: "http"
        case .websocket: "websocket"
        case .lifespan: "lifespan"
        }
    }
}

/// The scope of one HTTP request: everything about it but its body.
///
/// Its fields live in one copy-on-write box, so that handing a scope along (to the request, to hooks, to
/// middleware) costs one reference count rather than one per field.
public struct HTTPScope: Sendable {
    /// The fields as a plain value.
    private struct Fields {
        var httpVersion: HTTPVersion
        var method: HTTPRequest.Method
        var scheme: String
        var path: String
        var rawPath: String
        var queryString: [UInt8]
        var rootPath: String
        var headers: HTTPFields
        var client: SocketAddress?
        var server: SocketAddress?
        var extensions: ScopeExtensions
    }

    /// The box; changed only while this scope holds the sole reference to it, so sharing it is safe.
    private final class Storage: @unchecked Sendable {
        var fields: Fields

        init(_ fields: Fields) {
            self.fields = fields
        }
    }

    private var storage: Storage

    /// The protocol version, such as 1.1.
    public var httpVersion: HTTPVersion {
        get { self.storage.fields.httpVersion }
        set { self.update { $0.httpVersion = newValue } }
    }
    /// The request method.
    public var method: HTTPRequest.Method {
        get { self.storage.fields.method }
        set { self.update { $0.method = newValue } }
    }
    /// `http` or `https`.
    public var scheme: String {
        get { self.storage.fields.scheme }
        set { self.update { $0.scheme = newValue } }
    }
    /// The path, percent-decoded, without the query.
    public var path: String {
        get { self.storage.fields.path }
        set { self.update { $0.path = newValue } }
    }
    /// The path exactly as the request target carried it, still percent-encoded.
    public var rawPath: String {
        get { self.storage.fields.rawPath }
        set { self.update { $0.rawPath = newValue } }
    }
    /// The query: the bytes after `?`, undecoded.
    public var queryString: [UInt8] {
        get { self.storage.fields.queryString }
        set { self.update { $0.queryString = newValue } }
    }
    /// The path prefix the application is mounted under, empty at the root.
    public var rootPath: String {
        get { self.storage.fields.rootPath }
        set { self.update { $0.rootPath = newValue } }
    }
    /// The path below ``rootPath``, which an application routes on (Starlette's route path): `path` itself when
    /// `rootPath` is empty or is not its first segments.
    public var routePath: Substring {
        let path = self.storage.fields.path
        let root = self.storage.fields.rootPath
        guard !root.isEmpty, path.hasPrefix(root) else { return path[...] }
        let rest = path.dropFirst(root.count)
        if rest.isEmpty { return "/" }
        return rest.first == "/" ? rest : path[...]
    }
    /// The request header fields, in order, duplicates kept.
    public var headers: HTTPFields {
        get { self.storage.fields.headers }
        set { self.update { $0.headers = newValue } }
    }
    /// The client's address, when known.
    public var client: SocketAddress? {
        get { self.storage.fields.client }
        set { self.update { $0.client = newValue } }
    }
    /// The address the server accepted the connection on, when known.
    public var server: SocketAddress? {
        get { self.storage.fields.server }
        set { self.update { $0.server = newValue } }
    }
    /// Typed values a server or middleware attaches to the scope.
    public var extensions: ScopeExtensions {
        get { self.storage.fields.extensions }
        set { self.update { $0.extensions = newValue } }
    }

    /// A scope with every field given.
    public init(
        httpVersion: HTTPVersion = .http1_1,
        method: HTTPRequest.Method,
        scheme: String = "http",
        path: String,
        rawPath: String,
        queryString: [UInt8] = [],
        rootPath: String = "",
        headers: HTTPFields = [:],
        client: SocketAddress? = nil,
        server: SocketAddress? = nil,
        extensions: ScopeExtensions = ScopeExtensions()
    ) {
        self.storage = Storage(
            Fields(
                httpVersion: httpVersion, method: method, scheme: scheme, path: path, rawPath: rawPath,
                queryString: queryString, rootPath: rootPath, headers: headers, client: client, server: server,
                extensions: extensions))
    }

    /// Changes the fields in place, copying the box first if another scope shares it.
    private mutating func update(_ change: (inout Fields) -> Void) {
        if !isKnownUniquelyReferenced(&self.storage) { self.storage = Storage(self.storage.fields) }
        change(&self.storage.fields)
    }

    /// A scope for a request target such as `/items/a%20b?x=1`: the path is decoded and the query split off.
    public init(
        method: HTTPRequest.Method = .get,
        target: String,
        headers: HTTPFields = [:],
        httpVersion: HTTPVersion = .http1_1,
        scheme: String = "http",
        client: SocketAddress? = nil,
        server: SocketAddress? = nil,
        extensions: ScopeExtensions = ScopeExtensions()
    ) {
        let utf8 = target.utf8
        let rawPath: Substring
        let query: [UInt8]
        if let mark = utf8.firstIndex(of: UInt8(ascii: "?")) {
            rawPath = target[..<mark]
            query = Array(utf8[utf8.index(after: mark)...])
        } else {
            rawPath = target[...]
            query = []
        }
        self.init(
            httpVersion: httpVersion,
            method: method,
            scheme: scheme,
            path: rawPath.utf8.contains(UInt8(ascii: "%"))
                ? String(decoding: PercentDecoding.decode(rawPath.utf8), as: UTF8.self) : String(rawPath),
            rawPath: String(rawPath),
            queryString: query,
            headers: headers,
            client: client,
            server: server,
            extensions: extensions
        )
    }
}

/// An HTTP version: major and minor number.
public struct HTTPVersion: Sendable, Hashable, CustomStringConvertible {
    /// The major number.
    public var major: Int
    /// The minor number.
    public var minor: Int

    /// The version `major.minor`.
    public init(major: Int, minor: Int) {
        self.major = major
        self.minor = minor
    }

    /// HTTP/1.0.
    public static let http1_0 = HTTPVersion(major: 1, minor: 0)
    /// HTTP/1.1.
    public static let http1_1 = HTTPVersion(major: 1, minor: 1)
    /// HTTP/2.
    public static let http2 = HTTPVersion(major: 2, minor: 0)

    public var description: String { "\(self.major).\(self.minor)" }
}

/// The scope of a server's lifespan: start-up before the first connection, shutdown after the last.
public struct LifespanScope: Sendable {
    /// Typed values the server attaches to the scope.
    public var extensions: ScopeExtensions

    /// A lifespan scope.
    public init(extensions: ScopeExtensions = ScopeExtensions()) {
        self.extensions = extensions
    }
}

/// Percent-decoding of URL components (RFC 3986 §2.1).
public enum PercentDecoding {
    /// The bytes of `encoded` with each `%XX` replaced by its byte; with `plusAsSpace`, `+` becomes a space.
    ///
    /// A `%` not followed by two hexadecimal digits is kept as it is, as Python's `unquote` does.
    public static func decode(_ encoded: some Collection<UInt8>, plusAsSpace: Bool = false) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(encoded.count)
        var index = encoded.startIndex
        while index != encoded.endIndex {
            let byte = encoded[index]
            encoded.formIndex(after: &index)
            if byte == UInt8(ascii: "%"), index != encoded.endIndex,
                let high = hexValue(encoded[index]),
                case let next = encoded.index(after: index), next != encoded.endIndex,
                let low = hexValue(encoded[next])
            {
                output.append(high << 4 | low)
                index = encoded.index(after: next)
            } else if byte == UInt8(ascii: "+"), plusAsSpace {
                output.append(UInt8(ascii: " "))
            } else {
                output.append(byte)
            }
        }
        return output
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
