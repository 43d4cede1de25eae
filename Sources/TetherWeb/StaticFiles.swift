import HTTPTypes
import NIOPosix
import TetherGateway

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Serves the files of a directory under a URL prefix, and passes every other request to the application it wraps.
///
/// GET and HEAD are answered with Content-Type, Content-Length and Last-Modified; `If-Modified-Since` gets 304
/// when the file is no newer. A path that leaves the directory (`..`, or a symbolic link pointing out) is 404,
/// as is a missing file; other methods under the prefix are 405.
public struct StaticFiles: Application {
    private let prefix: String
    private let files: WebApplication
    private let wrapped: any Application

    /// Serves `directory` under `prefix` (such as `/static`), passing everything else to `application`.
    public init(
        directory: String,
        prefix: String,
        wrapping application: some Application,
        configuration: WebApplication.Configuration = WebApplication.Configuration()
    ) {
        let prefix = "/" + prefix.split(separator: "/").joined(separator: "/")
        self.prefix = prefix == "/" ? "" : prefix
        self.wrapped = application
        let root = directory
        let threadPool = configuration.threadPool
        var router = Router()
        router.get(self.prefix + "/*file") { request in
            let relative = request.parameters["file"] ?? ""
            guard let path = try await threadPool.runIfActive({ Self.resolve(relative, in: root) }) else {
                throw HTTPError(.notFound, message: "Not Found")
            }
            let response = try await Response.file(at: path)
            if let since = request.headers[.ifModifiedSince].flatMap(HTTPDate.epochSeconds(from:)),
                let modified = response.headers[.lastModified].flatMap(HTTPDate.epochSeconds(from:)),
                modified <= since
            {
                var notModified = Response(status: .notModified)
                notModified.headers[.lastModified] = response.headers[.lastModified]
                return notModified
            }
            return response
        }
        self.files = WebApplication(router: router, configuration: configuration)
    }

    public func callAsFunction(_ scope: Scope, receive: @escaping Receive, send: @escaping Send) async throws {
        if case .http(let http) = scope, http.path.hasPrefix(self.prefix + "/") {
            try await self.files(scope, receive: receive, send: send)
        } else {
            try await self.wrapped(scope, receive: receive, send: send)
        }
    }

    /// The real path of `relative` inside `root`, or `nil` when it is not a regular file there.
    private static func resolve(_ relative: String, in root: String) -> String? {
        let segments = relative.split(separator: "/")
        guard !segments.contains(where: { $0 == ".." || $0 == "." || $0.contains("\0") || $0.contains("\\") }) else {
            return nil
        }
        guard let realRoot = realPath(root), let real = realPath(root + "/" + segments.joined(separator: "/")),
            real.hasPrefix(realRoot == "/" ? "/" : realRoot + "/")
        else { return nil }
        var status = stat()
        guard stat(real, &status) == 0, status.st_mode & S_IFMT == S_IFREG else { return nil }
        return real
    }

    private static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
