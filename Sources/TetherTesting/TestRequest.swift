import HTTPTypes
import NIOCore

/// A whole request for ``TestClient`` to send: method, target, header fields and body.
public struct TestRequest: Sendable {
    /// The method.
    public var method: HTTPRequest.Method
    /// The path and query, such as `/items/?page=2`.
    public var target: String
    /// The header fields; `Content-Length` is added for a body (and for POST, PUT and PATCH) when absent.
    public var headers: HTTPFields
    /// The body.
    public var body: ByteBuffer

    /// A request with every field given.
    public init(
        _ method: HTTPRequest.Method, _ target: String, headers: HTTPFields = [:], body: ByteBuffer = ByteBuffer()
    ) {
        self.method = method
        self.target = target
        self.headers = headers
        self.body = body
    }

    /// The header fields as sent: with `Content-Length` when the body or the method calls for one.
    public var sentHeaders: HTTPFields {
        var headers = self.headers
        if headers[.contentLength] == nil, headers[.transferEncoding] == nil,
            self.body.readableBytes > 0 || [.post, .put, .patch].contains(self.method)
        {
            headers[.contentLength] = String(self.body.readableBytes)
        }
        return headers
    }
}
