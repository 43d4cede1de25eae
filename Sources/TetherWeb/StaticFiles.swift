import TetherGateway

/// Serves the files of a directory under a URL prefix in front of any application, and passes it every other request.
///
/// A ``FileMiddleware`` in a web application of its own, for mounting files in front of an application that is not a
/// ``WebApplication``, as Starlette mounts `StaticFiles`. Inside a web application, add ``FileMiddleware`` to its
/// middleware instead, so that its other middleware and hooks apply to file responses. Under the prefix, a path that
/// names no file is 404, and methods other than GET and HEAD are 405.
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
        let middleware = FileMiddleware(directory: directory, prefix: prefix, threadPool: configuration.threadPool)
        self.prefix = middleware.prefix
        self.wrapped = application
        var router = Router()
        router.get(self.prefix + "/*file") { _ in throw HTTPError(.notFound, message: "Not Found") }
        self.files = WebApplication(router: router, middleware: [middleware], configuration: configuration)
    }

    public func callAsFunction(_ scope: Scope, receive: @escaping Receive, send: @escaping Send) async throws {
        if case .http(let http) = scope, http.routePath == self.prefix || http.routePath.hasPrefix(self.prefix + "/") {
            try await self.files(scope, receive: receive, send: send)
        } else {
            try await self.wrapped(scope, receive: receive, send: send)
        }
    }
}
