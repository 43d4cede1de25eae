import HTTPTypes
import NIOPosix

/// Serves the files of a directory under a URL prefix for GET and HEAD, and passes every other request on.
///
/// A file is answered as ``Response/file(at:for:contentType:disposition:filename:)`` answers: Content-Type by
/// extension, a strong ETag and Last-Modified with 304s, a single byte range with 206 or 416. A directory is served
/// by its index file, once its path ends with `/` (without one it is redirected there, 301, so that the index's
/// relative links resolve). A path that names nothing here goes to `next`, so that routes, the rest of the middleware
/// and the lifecycle hooks apply; a path that tries to leave the directory (`..`, `%2e%2e`, a symbolic link pointing
/// out) is ``HTTPError`` 404.
///
/// ```swift
/// let files = FileMiddleware(directory: "public", prefix: "/static", cacheControl: "public, max-age=3600")
/// let app = WebApplication(router: router, middleware: [files])
/// ```
///
/// Under the prefix every GET and HEAD looks at the disk before the router; a prefix keeps other requests off it.
public struct FileMiddleware: Middleware {
    /// The prefix, as `/static`; empty for the root.
    let prefix: String
    private let directory: String
    private let index: String?
    private let cacheControl: String?
    private let disposition: Response.Disposition?
    private let threadPool: NIOThreadPool

    /// Serves `directory` under `prefix` (`/` by default).
    ///
    /// - Parameters:
    ///   - directory: the directory whose files are served.
    ///   - prefix: the URL path they are served under, such as `/static`.
    ///   - index: the file that answers for a directory; `nil` for none.
    ///   - cacheControl: the `Cache-Control` of file responses, such as `public, max-age=3600`; none when `nil`.
    ///   - disposition: `.attachment` makes every file a download; by default there is no `Content-Disposition`.
    ///   - threadPool: where paths are resolved, with blocking calls.
    public init(
        directory: String,
        prefix: String = "/",
        index: String? = "index.html",
        cacheControl: String? = nil,
        disposition: Response.Disposition? = nil,
        threadPool: NIOThreadPool = WebApplication.Configuration.sharedThreadPool
    ) {
        let prefix = "/" + prefix.split(separator: "/").joined(separator: "/")
        self.prefix = prefix == "/" ? "" : prefix
        self.directory = directory
        self.index = index
        self.cacheControl = cacheControl
        self.disposition = disposition
        self.threadPool = threadPool
    }

    public func respond(to request: Request, next: Handler) async throws -> Response {
        guard request.method == .get || request.method == .head, let relative = self.relative(request.routePath) else {
            return try await next(request)
        }
        let (directory, index) = (self.directory, self.index)
        switch try await self.threadPool.runIfActive({ FileLookup(relative, in: directory, index: index) }) {
        case .file(let path):
            return try await self.serve(path, for: request)
        case .directory where !request.path.hasSuffix("/"):
            return Self.redirectToDirectory(request)
        case .directory(let index):
            return try await self.serve(index, for: request)
        case .outside:
            throw HTTPError(.notFound, message: "Not Found")
        case .nothing:
            return try await next(request)
        }
    }

    /// The part of `path` under the prefix, or `nil` when `path` is not under it.
    private func relative(_ path: Substring) -> String? {
        if path == self.prefix { return "" }
        guard path.hasPrefix(self.prefix + "/") else { return nil }
        return String(path.dropFirst(self.prefix.count))
    }

    private func serve(_ path: String, for request: Request) async throws -> Response {
        var response = try await Response.file(at: path, for: request, disposition: self.disposition)
        // A cached 416 would answer later requests for other ranges.
        if let cacheControl = self.cacheControl, response.status != .rangeNotSatisfiable {
            response.headers[.cacheControl] = cacheControl
        }
        return response
    }

    /// 301 to the path with `/` appended, query kept.
    private static func redirectToDirectory(_ request: Request) -> Response {
        // One leading slash only: `//host/` would send the client to another host.
        var location = "/" + String(request.rawPath.drop { $0 == "/" }) + "/"
        if !request.queryString.isEmpty {
            location += "?" + String(decoding: request.queryString, as: UTF8.self)
        }
        return Response(status: .movedPermanently, headers: [.location: location])
    }
}
