import Foundation
import Logging
import NIOCore
import NIOPosix
import TestSupport
import Testing
import TetherGateway
import TetherServer
import TetherSoak

/// Runs a server for `application` on an ephemeral port of 127.0.0.1 while `body` runs, then stops it.
func withServer<T: Sendable>(
    _ application: some Application,
    configure: (inout Server.Configuration) -> Void = { _ in },
    _ body: @Sendable (_ port: Int, _ server: Server) async throws -> T
) async throws -> T {
    var configuration = Server.Configuration(host: "127.0.0.1", port: 0)
    configuration.accessLog = false
    // Most test applications are written for HTTP only; the lifespan tests turn it back on.
    configuration.lifespan = .off
    configure(&configuration)
    var logger = Logger(label: "test.server")
    logger.logLevel = .critical
    let server = Server(application: application, configuration: configuration, logger: logger)
    return try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask {
            try await server.run()
            return nil
        }
        defer { group.cancelAll() }
        let port = try await server.localAddress.port ?? 0
        let result = try await body(port, server)
        group.cancelAll()
        while let next = try await group.next() {
            if let next { return next }
        }
        return result
    }
}
