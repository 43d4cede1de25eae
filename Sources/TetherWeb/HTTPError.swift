import HTTPTypes

/// An error that is answered with its own status: thrown by handlers and middleware.
///
/// Its message is meant for the client: the application's ``ErrorRenderer`` shows it, as text or JSON. Any
/// other error is answered 500 without its text, which is logged instead.
public struct HTTPError: Error, Sendable, CustomStringConvertible {
    /// The response status.
    public var status: HTTPResponse.Status
    /// What the client is told; none when `nil`.
    public var message: String?
    /// Extra response header fields, such as `Allow`.
    public var headers: HTTPFields

    /// An error answered with `status`, `message` and `headers`.
    public init(_ status: HTTPResponse.Status, message: String? = nil, headers: HTTPFields = [:]) {
        self.status = status
        self.message = message
        self.headers = headers
    }

    /// A 422: the request was well-formed but its content is not acceptable, for the reason `message` gives.
    ///
    /// ```swift
    /// guard item.count > 0 else { throw HTTPError.unprocessable("Field 'count' must be positive.") }
    /// ```
    public static func unprocessable(_ message: String) -> HTTPError {
        HTTPError(.unprocessableContent, message: message)
    }

    /// The error as a plain-text response: its message as the body (none without one), and its header fields.
    public var response: Response {
        var response = self.message.map { Response.text($0, status: self.status) } ?? Response(status: self.status)
        response.headers.append(contentsOf: self.headers)
        return response
    }

    public var description: String {
        "HTTP \(self.status.code)" + (self.message.map { ": \($0)" } ?? "")
    }
}
