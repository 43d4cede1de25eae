import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import TestSupport
import Testing
import TetherGateway
import TetherServer
import TetherSoak
import TetherWeb

/// Timeouts, limits, lifespan and graceful shutdown.
@Suite struct LifecycleTests {
    static let hello = InlineApplication { scope, receive, send in
        guard case .http = scope else { throw CancellationError() }
        _ = try await receive()
        try await send(.start(status: .ok, headers: [.contentLength: "5"]))
        try await send(.body(ByteBuffer(string: "hello"), more: false))
    }

    @Test func aHeadThatNeverFinishesIsClosedAfterTheHeaderTimeout() async throws {
        // 3 s, so that an ordinary client is never that slow, even under a sanitizer's weight or a busy machine
        // (the deadline runs from the connection's accept, and the whole suite shares two cores).
        try await withServer(Self.hello, configure: { $0.headerTimeout = .seconds(3) }) { port, _ in
            let slow = try await RawClient.connect(port: port)
            try await slow.send("GET / HTTP/1.1\r\nHo")
            let fast = try await RawClient.connect(port: port)
            try await fast.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            try await fast.waitFor("hello")
            #expect(try await slow.waitForClose() == "")
        }
    }

    @Test func idleKeepAliveConnectionsAreClosed() async throws {
        try await withServer(Self.hello, configure: { $0.keepAliveTimeout = .milliseconds(200) }) { port, _ in
            let client = try await RawClient.connect(port: port)
            try await client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            let text = try await client.waitForClose()
            #expect(text.hasSuffix("hello"))
        }
    }

    @Test func connectionsOverTheLimitAreRefusedWith503() async throws {
        try await withServer(Self.hello, configure: { $0.maxConnections = 1 }) { port, _ in
            let first = try await RawClient.connect(port: port)
            try await first.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            try await first.waitFor("hello")
            let second = try await RawClient.connect(port: port)
            #expect(try await second.waitForClose().hasPrefix("HTTP/1.1 503 Service Unavailable\r\n"))
            try await first.close()
            // The slot frees once the first connection's task has ended.
            var answered = false
            for _ in 0..<200 where !answered {
                let third = try await RawClient.connect(port: port)
                try? await third.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                answered = (try? await third.waitFor("hello", timeout: .milliseconds(100))) != nil
            }
            #expect(answered)
        }
    }

    /// Records lifespan events; fails its start-up when asked to.
    static func lifespanApp(log: Box<[String]>, failStartup: Bool = false) -> InlineApplication {
        InlineApplication { scope, receive, send in
            switch scope {
            case .lifespan:
                while true {
                    switch try await receive() {
                    case .startup:
                        log.mutate { $0.append("startup") }
                        try await send(failStartup ? .startupFailed(message: "no database") : .startupComplete)
                    case .shutdown:
                        log.mutate { $0.append("shutdown") }
                        try await send(.shutdownComplete)
                        return
                    default:
                        break
                    }
                }
            case .http:
                log.mutate { $0.append("request") }
                _ = try await receive()
                try await send(.start(status: .ok, headers: [.contentLength: "2"]))
                try await send(.body(ByteBuffer(string: "ok"), more: false))
            case .websocket:
                log.mutate { $0.append("websocket") }
            }
        }
    }

    @Test func lifespanStartsBeforeTheFirstConnectionAndShutsDownAfterTheDrain() async throws {
        let log = Box<[String]>([])
        let server = Server(
            application: Self.lifespanApp(log: log), configuration: .init(host: "127.0.0.1", port: 0),
            logger: Self.quiet)
        let group = ServiceGroup(services: [server], logger: Self.quiet)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let port = try await server.localAddress.port!
            #expect(log.value == ["startup"])
            let client = try await RawClient.connect(port: port)
            try await client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            try await client.waitFor("\r\n\r\nok")
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        #expect(log.value == ["startup", "request", "shutdown"])
    }

    @Test func aFailedStartupStopsTheServerWithItsMessage() async throws {
        let log = Box<[String]>([])
        let server = Server(
            application: Self.lifespanApp(log: log, failStartup: true),
            configuration: .init(host: "127.0.0.1", port: 0), logger: Self.quiet)
        await #expect(throws: ServerError.startupFailed("no database")) { try await server.run() }
        await #expect(throws: ServerError.notListening) { try await server.localAddress }
    }

    @Test func anApplicationWithoutLifespanIsServed() async throws {
        var router = Router()
        router.get("/") { _ in .text("served") }
        try await withServer(WebApplication(router: router), configure: { $0.lifespan = .auto }) { port, _ in
            let client = try await RawClient.connect(port: port)
            try await client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            try await client.waitFor("served")
        }
    }

    @Test func gracefulShutdownFinishesRequestsInFlightAndRefusesNewConnections() async throws {
        let started = Latch()
        let release = Latch()
        var router = Router()
        router.get("/slow/") { _ in
            started.open()
            _ = await release.wait()
            return .text("finished")
        }
        router.get("/") { _ in .text("idle") }
        var configuration = Server.Configuration(host: "127.0.0.1", port: 0)
        configuration.lifespan = .off
        let server = Server(
            application: WebApplication(router: router), configuration: configuration, logger: Self.quiet)
        let group = ServiceGroup(services: [server], logger: Self.quiet)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let port = try await server.localAddress.port!
            let idle = try await RawClient.connect(port: port)
            try await idle.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            try await idle.waitFor("idle")
            let inFlight = try await RawClient.connect(port: port)
            try await inFlight.send("GET /slow/ HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(await started.wait())

            await group.triggerGracefulShutdown()
            #expect(try await idle.waitForClose().hasSuffix("idle"))
            await #expect(throws: (any Error).self) {
                let late = try await RawClient.connect(port: port)
                try await late.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                try await late.waitFor("idle", timeout: .seconds(1))
            }
            release.open()
            let text = try await inFlight.waitForClose()
            #expect(text.hasSuffix("finished"))
            #expect(text.contains("Connection: close\r\n") || text.contains("connection: close\r\n"))
            try await tasks.waitForAll()
        }
    }

    static let quiet: Logger = {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return logger
    }()
}
