import HTTPTypes
import TetherGateway

/// How a request for a file is answered, given the file's validators, in RFC 9110's order (§13.2.2).
enum FileAnswer: Equatable, Sendable {
    /// 304: the client's copy is current.
    case notModified
    /// 200, 206 or 416, as the `Range` field selects.
    case send(ByteRange)

    /// The answer to `request` for a file of `length` bytes with `etag`, last modified at `modifiedSeconds`.
    ///
    /// Only GET and HEAD are conditional, and only GET reads a range (RFC 9110 §14.2); `If-Modified-Since` counts
    /// only without `If-None-Match`, and a `Range` only while `If-Range`, if any, still names the file.
    init(_ request: Request, length: Int64, etag: ETag, modifiedSeconds: Int) {
        guard request.method == .get || request.method == .head else {
            self = .send(.whole)
            return
        }
        if let tags = request.header(.ifNoneMatch) {
            if etag.isMatched(byIfNoneMatch: tags) {
                self = .notModified
                return
            }
        } else if let since = request.headers[.ifModifiedSince].flatMap(HTTPDate.epochSeconds(from:)),
            modifiedSeconds <= since
        {
            self = .notModified
            return
        }
        guard request.method == .get, let range = request.header(.range),
            Self.rangeStillApplies(request.headers[.ifRange], etag: etag, modifiedSeconds: modifiedSeconds)
        else {
            self = .send(.whole)
            return
        }
        self = .send(ByteRange(range, length: length))
    }

    /// Whether `If-Range` is absent or names this file: its strong tag, or exactly its Last-Modified date (§13.1.5).
    private static func rangeStillApplies(_ ifRange: String?, etag: ETag, modifiedSeconds: Int) -> Bool {
        guard let ifRange = ifRange?.trimmingOWS else { return true }
        if let (tag, rest) = ETag.parse(ifRange), rest.isEmpty {
            return tag.strongMatches(etag)
        }
        return HTTPDate.epochSeconds(from: String(ifRange)) == modifiedSeconds
    }
}
