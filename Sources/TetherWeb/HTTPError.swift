import HTTPTypes

/// An error that is answered with its own status: thrown by handlers and middleware.
public struct HTTPError: Error, Sendable, CustomStringConvertible {
    /// The response status.
    public var status: HTTPResponse.Status
    /// The response body, as plain text; none when `nil`.
    public var message: String?
    /// Extra response header fields, such as `Allow`.
    public var headers: HTTPFields

    /// An error answered with `status`, `message` and `headers`.
    public init(_ status: HTTPResponse.Status, message: String? = nil, headers: HTTPFields = [:]) {
        self.status = status
        self.message = message
        self.headers = headers
    }

    /// The response that answers this error.
    public var response: Response {
        var response = self.message.map { Response.text($0, status: self.status) } ?? Response(status: self.status)
        response.headers.append(contentsOf: self.headers)
        return response
    }

    public var description: String {
        "HTTP \(self.status.code)" + (self.message.map { ": \($0)" } ?? "")
    }
}
