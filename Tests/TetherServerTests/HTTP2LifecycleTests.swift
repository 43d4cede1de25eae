import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import TestSupport
import Testing
import TetherGateway
import TetherServer
import TetherSoak
import TetherWeb

/// Graceful shutdown over HTTP/2: GOAWAY, streams in flight finish, idle connections close; when the grace period
/// runs out, the streams still working are cancelled for `serverShutdown`.
@Suite struct HTTP2LifecycleTests {
    @Test func aGracefulShutdownLetsStreamsInFlightFinishAndClosesIdleConnections() async throws {
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
        configuration.accessLog = false
        let server = Server(
            application: WebApplication(router: router), configuration: configuration, logger: LifecycleTests.quiet)
        let group = ServiceGroup(services: [server], logger: LifecycleTests.quiet)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let port = try await server.localAddress.port!
            let idle = try await HTTP2Client.connect(port: port)
            let first = try await idle.openStream()
            try await first.sendHead(.GET, "/", end: true)
            try await first.waitFor("idle")
            let busy = try await HTTP2Client.connect(port: port)
            let slow = try await busy.openStream()
            try await slow.sendHead(.GET, "/slow/", end: true)
            #expect(await started.wait())

            await group.triggerGracefulShutdown()
            try await idle.waitForClose()
            release.open()
            try await slow.waitFor("finished")
            try await busy.waitForClose()
            try await tasks.waitForAll()
        }
    }

    @Test func streamsStillWorkingWhenTheGracePeriodEndsAreCancelled() async throws {
        let started = Latch()
        let running = Box(0)
        let cancelled = Box(0)
        var router = Router()
        router.get("/forever/") { _ in
            running.mutate { $0 += 1 }
            started.open()
            do {
                try await Task.sleep(for: .seconds(60))
            } catch {
                cancelled.mutate { $0 += 1 }
                throw error
            }
            return .text("never")
        }
        var configuration = Server.Configuration(host: "127.0.0.1", port: 0)
        configuration.lifespan = .off
        configuration.accessLog = false
        let server = Server(
            application: WebApplication(router: router), configuration: configuration, logger: LifecycleTests.quiet)
        var groupConfiguration = ServiceGroupConfiguration(services: [server], logger: LifecycleTests.quiet)
        groupConfiguration.maximumGracefulShutdownDuration = .milliseconds(200)
        let group = ServiceGroup(configuration: groupConfiguration)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try? await group.run() }
            let port = try await server.localAddress.port!
            let client = try await HTTP2Client.connect(port: port)
            for _ in 0..<2 {
                let stream = try await client.openStream()
                try await stream.sendHead(.GET, "/forever/", end: true)
            }
            #expect(await started.wait())
            #expect(try await eventually { running.value == 2 })

            await group.triggerGracefulShutdown()
            try await client.waitForClose()
            try await tasks.waitForAll()
        }
        #expect(cancelled.value == 2)
    }
}
