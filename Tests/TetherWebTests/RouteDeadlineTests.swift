import Foundation
import TestSupport
import Testing
import TetherTesting
import TetherWeb

/// A route's deadline cancels its work as a departed client does, names itself, and answers 504.
@Suite struct RouteDeadlineTests {
    /// What the handler saw when it stopped.
    struct Stop: Sendable {
        var wasCancellationError: Bool
        var reason: CancellationReason?

        init(_ error: any Error, _ reason: CancellationReason?) {
            self.wasCancellationError = error is CancellationError
            self.reason = reason
        }
    }

    @Test func anAsyncHandlerIsCancelledWithTheDeadlineAsReasonAndTheClientGets504() async throws {
        let stop = Box<Stop?>(nil)
        let before = Box<CancellationReason?>(.serverShutdown)
        var router = Router()
        router.get("/report/", deadline: .milliseconds(100)) { _ in
            before.value = CancellationReason.current
            do {
                try await Task.sleep(for: .seconds(60))
            } catch {
                stop.value = Stop(error, CancellationReason.current)
                throw error
            }
            return .text("late")
        }
        let app = WebApplication(router: router, middleware: [ErrorRenderingTests.securityHeaders])
        let response = try await TestClient(app).get("/report/")
        #expect(response.status == .gatewayTimeout)
        #expect(response.headers[ErrorRenderingTests.frameOptions] == "DENY")
        #expect(before.value == nil)
        #expect(stop.value?.wasCancellationError == true)
        #expect(stop.value?.reason == .requestDeadline)
    }

    @Test func aBlockingHandlerSeesItsFlagAndIsAwaitedBeforeThe504() async throws {
        let returned = Box<Bool?>(nil)
        var router = Router()
        router.get(
            "/report/", deadline: .milliseconds(100),
            blocking: { request in
                let limit = Date().addingTimeInterval(10)
                while !request.isCancelled && Date() < limit { Thread.sleep(forTimeInterval: 0.005) }
                // Goes on after seeing the flag: the answer must still wait for this thread to return.
                Thread.sleep(forTimeInterval: 0.1)
                returned.value = request.isCancelled
                return .text("discarded")
            })
        let response = try await TestClient(WebApplication(router: router)).get("/report/")
        #expect(response.status == .gatewayTimeout)
        #expect(returned.value == true)
    }

    @Test func aHandlerWithinItsDeadlineIsNotDisturbed() async throws {
        var router = Router()
        router.post("/quick/", deadline: .seconds(10)) { request in
            try await Task.sleep(for: .milliseconds(20))
            return .text("quick \(CancellationReason.current.map { "\($0)" } ?? "and whole")")
        }
        let response = try await TestClient(WebApplication(router: router)).post("/quick/")
        #expect(response.status == .ok)
        #expect(response.text == "quick and whole")
    }

    @Test func aStartedResponsePastItsDeadlineEndsWithAnErrorForTheServer() async throws {
        let stop = Box<Stop?>(nil)
        var router = Router()
        router.get("/stream/", deadline: .milliseconds(100)) { _ in
            Response(
                body: ResponseBody { writer in
                    try await writer.write(ByteBuffer(string: "first"))
                    do {
                        try await Task.sleep(for: .seconds(60))
                    } catch {
                        stop.value = Stop(error, CancellationReason.current)
                        throw error
                    }
                })
        }
        let communicator = ApplicationCommunicator(
            WebApplication(router: router), scope: .http(HTTPScope(target: "/stream/")))
        communicator.send(.body(ByteBuffer(), more: false))
        #expect(try await communicator.receiveOutput(timeout: .seconds(10)) == .start(status: .ok, headers: [:]))
        let first = try await communicator.receiveOutput(timeout: .seconds(10))
        #expect(first == .body(ByteBuffer(string: "first"), more: true))
        await #expect {
            try await communicator.wait(timeout: .seconds(10))
        } throws: { error in
            (error as? HTTPError)?.status == .gatewayTimeout
        }
        #expect(try await communicator.receiveNothing(timeout: .milliseconds(10)))
        #expect(stop.value?.wasCancellationError == true)
        #expect(stop.value?.reason == .requestDeadline)
    }

    @Test func aClientLeavingBeforeTheDeadlineKeepsItsOwnReason() async throws {
        let started = Latch()
        let stop = Box<Stop?>(nil)
        var router = Router()
        router.get("/report/", deadline: .seconds(30)) { _ in
            started.open()
            do {
                try await Task.sleep(for: .seconds(60))
            } catch {
                stop.value = Stop(error, CancellationReason.current)
                throw error
            }
            return .text("late")
        }
        let communicator = ApplicationCommunicator(
            WebApplication(router: router), scope: .http(HTTPScope(target: "/report/")))
        communicator.send(.body(ByteBuffer(), more: false))
        #expect(await started.wait())
        communicator.send(.disconnect)
        try await communicator.wait(timeout: .seconds(10))
        #expect(try await communicator.receiveNothing(timeout: .milliseconds(10)))
        #expect(stop.value?.wasCancellationError == true)
        #expect(stop.value?.reason == .clientClosed)
    }

    @Test func aGroupsRoutesTakeDeadlinesToo() async throws {
        var router = Router()
        router.group("/api") { api in
            api.get("/slow", deadline: .milliseconds(50)) { _ in
                try await Task.sleep(for: .seconds(60))
                return .text("late")
            }
        }
        #expect(try await TestClient(WebApplication(router: router)).get("/api/slow").status == .gatewayTimeout)
    }
}
