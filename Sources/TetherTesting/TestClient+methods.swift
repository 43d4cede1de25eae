import FoundationEssentials
import HTTPTypes
import NIOCore

/// One call per method, with header fields, a body where the method takes one, and an optional departure: with
/// `disconnectAfter`, the client leaves after that long unless the response is complete by then (see
/// ``TestClient/send(_:disconnectAfter:)``).
extension TestClient {
    /// Sends a GET request.
    public func get(_ target: String, headers: HTTPFields = [:], disconnectAfter delay: Duration? = nil) async throws
        -> TestResponse
    {
        try await self.send(TestRequest(.get, target, headers: headers), disconnectAfter: delay)
    }

    /// Sends a HEAD request.
    public func head(_ target: String, headers: HTTPFields = [:], disconnectAfter delay: Duration? = nil) async throws
        -> TestResponse
    {
        try await self.send(TestRequest(.head, target, headers: headers), disconnectAfter: delay)
    }

    /// Sends a DELETE request.
    public func delete(_ target: String, headers: HTTPFields = [:], disconnectAfter delay: Duration? = nil)
        async throws -> TestResponse
    {
        try await self.send(TestRequest(.delete, target, headers: headers), disconnectAfter: delay)
    }

    /// Sends a POST request with `body`.
    public func post(
        _ target: String, headers: HTTPFields = [:], body: ByteBuffer = ByteBuffer(),
        disconnectAfter delay: Duration? = nil
    ) async throws -> TestResponse {
        try await self.send(TestRequest(.post, target, headers: headers, body: body), disconnectAfter: delay)
    }

    /// Sends a POST request with `body` as UTF-8.
    public func post(
        _ target: String, headers: HTTPFields = [:], body: String, disconnectAfter delay: Duration? = nil
    ) async throws -> TestResponse {
        try await self.post(target, headers: headers, body: ByteBuffer(string: body), disconnectAfter: delay)
    }

    /// Sends a PUT request with `body`.
    public func put(
        _ target: String, headers: HTTPFields = [:], body: ByteBuffer = ByteBuffer(),
        disconnectAfter delay: Duration? = nil
    ) async throws -> TestResponse {
        try await self.send(TestRequest(.put, target, headers: headers, body: body), disconnectAfter: delay)
    }

    /// Sends a PUT request with `body` as UTF-8.
    public func put(
        _ target: String, headers: HTTPFields = [:], body: String, disconnectAfter delay: Duration? = nil
    ) async throws -> TestResponse {
        try await self.put(target, headers: headers, body: ByteBuffer(string: body), disconnectAfter: delay)
    }

    /// Sends a PATCH request with `body`.
    public func patch(
        _ target: String, headers: HTTPFields = [:], body: ByteBuffer = ByteBuffer(),
        disconnectAfter delay: Duration? = nil
    ) async throws -> TestResponse {
        try await self.send(TestRequest(.patch, target, headers: headers, body: body), disconnectAfter: delay)
    }

    /// Sends a PATCH request with `body` as UTF-8.
    public func patch(
        _ target: String, headers: HTTPFields = [:], body: String, disconnectAfter delay: Duration? = nil
    ) async throws -> TestResponse {
        try await self.patch(target, headers: headers, body: ByteBuffer(string: body), disconnectAfter: delay)
    }

    /// Sends a POST request whose body is `value` as JSON, with `Content-Type: application/json` unless `headers`
    /// give one.
    ///
    /// ```swift
    /// let response = try await client.post("/items/", json: Item(name: "pen"))
    /// ```
    public func post(
        _ target: String, json value: some Encodable, headers: HTTPFields = [:], encoder: JSONEncoder = JSONEncoder(),
        disconnectAfter delay: Duration? = nil
    ) async throws -> TestResponse {
        try await self.send(Self.json(.post, target, value, headers: headers, encoder: encoder), disconnectAfter: delay)
    }

    /// Sends a PUT request whose body is `value` as JSON, like ``post(_:json:headers:encoder:disconnectAfter:)``.
    public func put(
        _ target: String, json value: some Encodable, headers: HTTPFields = [:], encoder: JSONEncoder = JSONEncoder(),
        disconnectAfter delay: Duration? = nil
    ) async throws -> TestResponse {
        try await self.send(Self.json(.put, target, value, headers: headers, encoder: encoder), disconnectAfter: delay)
    }

    /// Sends a PATCH request whose body is `value` as JSON, like ``post(_:json:headers:encoder:disconnectAfter:)``.
    public func patch(
        _ target: String, json value: some Encodable, headers: HTTPFields = [:], encoder: JSONEncoder = JSONEncoder(),
        disconnectAfter delay: Duration? = nil
    ) async throws -> TestResponse {
        try await self.send(
            Self.json(.patch, target, value, headers: headers, encoder: encoder), disconnectAfter: delay)
    }

    private static func json(
        _ method: HTTPRequest.Method, _ target: String, _ value: some Encodable, headers: HTTPFields,
        encoder: JSONEncoder
    ) throws -> TestRequest {
        var headers = headers
        if headers[.contentType] == nil { headers[.contentType] = "application/json" }
        return TestRequest(method, target, headers: headers, body: ByteBuffer(bytes: try encoder.encode(value)))
    }
}
