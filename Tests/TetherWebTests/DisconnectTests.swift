import Foundation
import NIOCore
import TestSupport
import Testing
import TetherGateway
import TetherTesting
import TetherWeb

/// A request's work ends with its client, on every path, and is cleaned up exactly once.
@Suite struct DisconnectTests {
    @Test func aDisconnectStopsAStreamingResponseAndRunsItsCleanup() async throws {
        let terminated = Latch()
        let firstChunkSent = Latch()
        var router = Router()
        router.get("/stream/") { _ in
            let (chunks, continuation) = AsyncStream<ByteBuffer>.makeStream()
            continuation.onTermination = { _ in terminated.open() }
            continuation.yield(ByteBuffer(string: "chunk 0\n"))
            // The stream never finishes by itself: only the client leaving ends it.
            return .stream(chunks, headers: [.contentType: "text/plain"])
        }
        router.get("/first/") { _ in
            firstChunkSent.open()
            return .text("")
        }
        let communicator = ApplicationCommunicator(WebApplication(router: router), scope: httpScope(.get, "/stream/"))
        communicator.send(.body(ByteBuffer(), more: false))
        #expect(
            try await communicator.receiveOutput(timeout: .seconds(10))
                == .start(status: .ok, headers: [.contentType: "text/plain"]))
        #expect(
            try await communicator.receiveOutput(timeout: .seconds(10))
                == .body(ByteBuffer(string: "chunk 0\n"), more: true))
        communicator.send(.disconnect)
        #expect(await terminated.wait())
        try await communicator.wait(timeout: .seconds(10))
        #expect(try await communicator.receiveNothing(timeout: .milliseconds(10)))
    }

    @Test func aBlockingHandlerSeesItsCancellationFlagAndItsResultIsDiscarded() async throws {
        let started = Latch()
        let observed = Box(false)
        var router = Router()
        router.get(
            "/blocking/",
            blocking: { request in
                started.open()
                let deadline = Date().addingTimeInterval(10)
                while !request.isCancelled && Date() < deadline { Thread.sleep(forTimeInterval: 0.005) }
                observed.value = request.isCancelled
                return .text("done")
            })
        let communicator = ApplicationCommunicator(WebApplication(router: router), scope: httpScope(.get, "/blocking/"))
        communicator.send(.body(ByteBuffer(), more: false))
        #expect(await started.wait())
        communicator.send(.disconnect)
        try await communicator.wait(timeout: .seconds(10))
        #expect(observed.value)
        #expect(try await communicator.receiveNothing(timeout: .milliseconds(10)))
    }

    @Test func anAsyncHandlerIsCancelledWhenTheClientLeavesAfterABody() async throws {
        let started = Latch()
        let cancelled = Box(false)
        var router = Router()
        router.post("/slow/") { request in
            #expect(try await request.body.bytes() == ByteBuffer(string: "some body"))
            started.open()
            do {
                try await Task.sleep(for: .seconds(30))
            } catch {
                cancelled.value = true
                throw error
            }
            return .text("done")
        }
        let communicator = ApplicationCommunicator(WebApplication(router: router), scope: httpScope(.post, "/slow/"))
        communicator.send(.body(ByteBuffer(string: "some "), more: true))
        communicator.send(.body(ByteBuffer(string: "body"), more: false))
        #expect(await started.wait())
        communicator.send(.disconnect)
        try await communicator.wait(timeout: .seconds(10))
        #expect(cancelled.value)
        #expect(try await communicator.receiveNothing(timeout: .milliseconds(10)))
    }

    /// Every way a request can end, each checked for hooks run exactly once and no temporary file left.
    enum Ending: String, CaseIterable, Sendable {
        case success, handlerError, httpError, disconnectDuringHandler, disconnectDuringBody, protocolViolation,
            tooLarge, disconnectDuringStream
    }

    @Test(arguments: Ending.allCases)
    func cleanupRunsExactlyOnceAndTheSpooledFileIsGone(ending: Ending) async throws {
        let directory = try TemporaryDirectory()
        let started = Box(0)
        let finished = Box(0)
        let closed = Box(0)
        let handlerRunning = Latch()
        let spooledPath = Box<String?>(nil)
        var configuration = WebApplication.Configuration.spooling(to: directory.path, threshold: 16)
        configuration.maxBodySize = 1000
        configuration.logger.logLevel = .critical
        var router = Router()
        router.post("/") { request in
            spooledPath.value = request.body.temporaryFile?.string
            #expect(FileManager.default.fileExists(atPath: spooledPath.value ?? "missing"))
            var response: Response
            switch ending {
            case .handlerError:
                struct Broken: Error {}
                throw Broken()
            case .httpError:
                throw HTTPError(.conflict, message: "no")
            case .disconnectDuringHandler:
                handlerRunning.open()
                try await Task.sleep(for: .seconds(30))
                response = .text("late")
            case .disconnectDuringStream:
                let (chunks, continuation) = AsyncStream<ByteBuffer>.makeStream()
                continuation.yield(ByteBuffer(string: "x"))
                handlerRunning.open()
                response = .stream(chunks)
            default:
                response = .text("ok")
            }
            response.onClose { closed.mutate { $0 += 1 } }
            return response
        }
        var app = WebApplication(router: router, configuration: configuration)
        app.onRequestStarted { _ in started.mutate { $0 += 1 } }
        app.onRequestFinished { _ in finished.mutate { $0 += 1 } }

        let communicator = ApplicationCommunicator(app, scope: httpScope(.post, "/"))
        let big = ByteBuffer.repeating(0x62, count: 400)
        communicator.send(.body(big, more: true))
        switch ending {
        case .disconnectDuringBody:
            communicator.send(.disconnect)
        case .tooLarge:
            communicator.send(.body(big, more: true))
            communicator.send(.body(big, more: false))
        case .protocolViolation:
            communicator.send(.body(big, more: false))
            communicator.send(.startup)
        default:
            communicator.send(.body(big, more: false))
        }
        if ending == .disconnectDuringHandler || ending == .disconnectDuringStream {
            #expect(await handlerRunning.wait())
            communicator.send(.disconnect)
        }

        let outcome = await Result { try await communicator.wait(timeout: .seconds(10)) }
        var statuses: [Int] = []
        while let event = try? await communicator.receiveOutput(timeout: .zero) {
            if case .start(let status, _, _) = event { statuses.append(status.code) }
        }

        switch ending {
        case .success: #expect(statuses == [200])
        case .handlerError: #expect(statuses == [500])
        case .httpError: #expect(statuses == [409])
        case .tooLarge: #expect(statuses == [413])
        case .protocolViolation: #expect(throws: ProtocolError.self) { try outcome.get() }
        case .disconnectDuringHandler, .disconnectDuringBody: #expect(statuses == [])
        case .disconnectDuringStream: #expect(statuses == [200])
        }
        if ending != .protocolViolation { try outcome.get() }

        let bodyWasRead = ending != .disconnectDuringBody && ending != .tooLarge
        #expect(started.value == (bodyWasRead ? 1 : 0))
        #expect(finished.value == (bodyWasRead ? 1 : 0))
        switch ending {
        case .success, .disconnectDuringStream: #expect(closed.value == 1)
        // The handler races the listener that finds the stray event: it may or may not have answered.
        case .protocolViolation: #expect(closed.value <= 1)
        default: #expect(closed.value == 0)
        }
        #expect(directory.contents == [])
    }
}
