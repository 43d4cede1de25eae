import HTTPTypes

/// The trailer fields a request's body ended with (a chunked HTTP/1.1 body, or an HTTP/2 stream), which the event
/// contract has no event for: the application reads ``current`` once `receive` returned the body's last chunk.
public enum RequestTrailers {
    /// The current request's trailer source; servers bind it around the application call when a request can carry
    /// trailers.
    @TaskLocal public static var source: (any RequestTrailersSource)?

    /// The current request's trailer fields, or `nil` if it had none, its body has not ended, or no server told.
    public static var current: HTTPFields? { Self.source?.requestTrailers }
}

/// What knows a request's trailer fields: the server's side of a request, bound with ``RequestTrailers/$source``.
public protocol RequestTrailersSource: AnyObject, Sendable {
    /// The trailer fields, once the body has ended with some.
    var requestTrailers: HTTPFields? { get }
}
