import FoundationEssentials
import HTTPTypes
import NIOCore

/// An HTTP response: status, header fields, body, and hooks to run once it is done with.
public struct Response: Sendable {
    /// The status.
    public var status: HTTPResponse.Status
    /// The header fields; `Content-Length` is added for byte and file bodies when absent.
    public var headers: HTTPFields
    /// The body.
    public var body: ResponseBody
    /// Trailer fields sent after the body, made once it is written (a checksum, a gRPC status); `nil` sends none.
    ///
    /// HTTP/2 sends them as a last HEADERS frame, HTTP/1.1 after a chunked body (no `Content-Length` is added).
    /// Clients may ignore them.
    public var trailers: (@Sendable () async throws -> HTTPFields)?
    /// Run once when the request ends, whether or not the response was sent.
    var closeHooks: [@Sendable () async -> Void] = []
    /// Set on the `101` a WebSocket route answers its handshake with: the handler to run once it is accepted.
    var webSocketUpgrade: WebSocketUpgrade?

    /// A response with `status`, `headers` and `body`.
    public init(status: HTTPResponse.Status = .ok, headers: HTTPFields = [:], body: ResponseBody = ResponseBody()) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// Adds a hook that runs once when the request ends: after the response is sent, or when it never will be.
    public mutating func onClose(_ hook: @escaping @Sendable () async -> Void) {
        self.closeHooks.append(hook)
    }

    /// A `text/plain; charset=utf-8` response.
    public static func text(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status,
            headers: [.contentType: "text/plain; charset=utf-8"],
            body: ResponseBody(ByteBuffer(string: text)))
    }

    /// A `text/html; charset=utf-8` response.
    public static func html(_ html: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status,
            headers: [.contentType: "text/html; charset=utf-8"],
            body: ResponseBody(ByteBuffer(string: html)))
    }

    /// An `application/json` response of `value` encoded.
    public static func json(
        _ value: some Encodable,
        status: HTTPResponse.Status = .ok,
        encoder: JSONEncoder = JSONEncoder()
    ) throws -> Response {
        Response(
            status: status,
            headers: [.contentType: "application/json"],
            body: ResponseBody(ByteBuffer(bytes: try encoder.encode(value))))
    }

    /// A response that streams `chunks` as they come; a client that leaves stops the stream.
    ///
    /// The sequence is iterated on the request's task, so cancelling it ends the iteration and runs the
    /// sequence's own clean-up (an `AsyncStream`'s `onTermination`, for one).
    public static func stream<Chunks: AsyncSequence & Sendable>(
        _ chunks: Chunks,
        status: HTTPResponse.Status = .ok,
        headers: HTTPFields = [:]
    ) -> Response where Chunks.Element == ByteBuffer {
        Response(
            status: status,
            headers: headers,
            body: ResponseBody { writer in
                for try await chunk in chunks {
                    try await writer.write(chunk)
                }
            })
    }

    /// A response that streams `strings` as UTF-8 as they come, `text/plain; charset=utf-8` unless `headers` give
    /// a Content-Type; a client that leaves stops the stream, as for chunks of bytes.
    ///
    /// ```swift
    /// router.get("/log/") { _ in .stream(lines.map { $0 + "\n" }) }
    /// ```
    public static func stream<Strings: AsyncSequence & Sendable>(
        _ strings: Strings,
        status: HTTPResponse.Status = .ok,
        headers: HTTPFields = [:]
    ) -> Response where Strings.Element == String {
        var headers = headers
        if headers[.contentType] == nil { headers[.contentType] = "text/plain; charset=utf-8" }
        return Response(
            status: status,
            headers: headers,
            body: ResponseBody { writer in
                for try await string in strings {
                    try await writer.write(ByteBuffer(string: string))
                }
            })
    }
}

/// What a response carries: bytes, a stream, or a file.
public struct ResponseBody: Sendable {
    enum Storage: Sendable {
        case bytes(ByteBuffer)
        case stream(@Sendable (ResponseBodyWriter) async throws -> Void)
        case file(FileBody)
    }

    let storage: Storage

    /// A body of `bytes`; empty by default.
    public init(_ bytes: ByteBuffer = ByteBuffer()) {
        self.storage = .bytes(bytes)
    }

    /// A body written chunk by chunk by `write`; the response ends when it returns.
    public init(stream write: @escaping @Sendable (ResponseBodyWriter) async throws -> Void) {
        self.storage = .stream(write)
    }

    init(file: FileBody) {
        self.storage = .file(file)
    }
}

/// Writes the chunks of a streamed response body.
public struct ResponseBodyWriter: Sendable {
    let sendChunk: @Sendable (ByteBuffer) async throws -> Void

    /// Sends `chunk`; throws once the client has gone.
    public func write(_ chunk: ByteBuffer) async throws {
        try await self.sendChunk(chunk)
    }
}

/// A part of a file to send as a response body.
struct FileBody: Sendable {
    var path: String
    var offset: Int64
    var count: Int64
}
