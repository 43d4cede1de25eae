import Logging
import TestSupport
import Testing
import TetherTesting
import TetherWeb

/// The finished hooks see each request's status, outcome and duration.
@Suite struct RequestSummaryTests {
    /// Routes for each way a request ends, and the summaries its finished hook saw.
    static func app(started: Latch = Latch()) -> (WebApplication, Box<[RequestSummary]>) {
        struct Broken: Error {}
        var router = Router()
        router.get("/ok") { _ in
            try await Task.sleep(for: .milliseconds(50))
            return .text("ok")
        }
        router.get("/broken") { _ in throw Broken() }
        router.get("/slow") { _ in
            started.open()
            try await Task.sleep(for: .seconds(60))
            return .text("late")
        }
        router.get("/late-failure") { _ in
            Response(
                body: ResponseBody { writer in
                    try await writer.write(ByteBuffer(string: "partial"))
                    throw Broken()
                })
        }
        router.get("/deadline", deadline: .milliseconds(50)) { _ in
            try await Task.sleep(for: .seconds(60))
            return .text("late")
        }
        var configuration = WebApplication.Configuration()
        configuration.logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
        var app = WebApplication(router: router, configuration: configuration)
        let summaries = Box<[RequestSummary]>([])
        app.onRequestFinished { summary in summaries.mutate { $0.append(summary) } }
        return (app, summaries)
    }

    /// The only summary recorded.
    static func only(_ summaries: Box<[RequestSummary]>) throws -> RequestSummary {
        try #require(summaries.value.count == 1)
        return summaries.value[0]
    }

    @Test func aCompletedRequestHasItsStatusAndDuration() async throws {
        let (app, summaries) = Self.app()
        _ = try await TestClient(app).get("/ok")
        let summary = try Self.only(summaries)
        #expect(summary.scope.path == "/ok")
        #expect(summary.status == .ok)
        #expect("\(summary.outcome)" == "completed")
        #expect(summary.duration >= .milliseconds(50))
        #expect(summary.duration < .seconds(10))
    }

    @Test(arguments: [("/broken", 500), ("/nowhere", 404)])
    func anAnsweredErrorIsACompletedRequest(path: String, status: Int) async throws {
        let (app, summaries) = Self.app()
        _ = try await TestClient(app).get(path)
        let summary = try Self.only(summaries)
        #expect(summary.status?.code == status)
        #expect("\(summary.outcome)" == "completed")
    }

    @Test func aDepartedClientsRequestIsCancelledWithItsReason() async throws {
        let started = Latch()
        let (app, summaries) = Self.app(started: started)
        let communicator = ApplicationCommunicator(app, scope: .http(HTTPScope(target: "/slow")))
        communicator.send(.body(ByteBuffer(), more: false))
        #expect(await started.wait())
        communicator.send(.disconnect)
        try await communicator.wait(timeout: .seconds(10))
        let summary = try Self.only(summaries)
        #expect(summary.status == nil)
        #expect("\(summary.outcome)" == "cancelled: client_closed")
    }

    @Test func aRoutesDeadlineIsACancellationWithItsReasonAnd504() async throws {
        let (app, summaries) = Self.app()
        #expect(try await TestClient(app).get("/deadline").status == .gatewayTimeout)
        let summary = try Self.only(summaries)
        #expect(summary.status == .gatewayTimeout)
        #expect("\(summary.outcome)" == "cancelled: request_deadline")
    }

    @Test func aProtocolViolationFails() async throws {
        let (app, summaries) = Self.app()
        let communicator = ApplicationCommunicator(app, scope: .http(HTTPScope(target: "/slow")))
        communicator.send(.body(ByteBuffer(), more: false))
        communicator.send(.startup)
        await #expect(throws: ProtocolError.self) { try await communicator.wait(timeout: .seconds(10)) }
        let outcome = try Self.only(summaries).outcome
        #expect("\(outcome)" == "failed: Invalid message after request body: lifespan.startup")
    }

    @Test func anErrorAfterTheResponseStartedFailsWithTheStatusSent() async throws {
        let (app, summaries) = Self.app()
        let communicator = ApplicationCommunicator(app, scope: .http(HTTPScope(target: "/late-failure")))
        communicator.send(.body(ByteBuffer(), more: false))
        await #expect(throws: (any Error).self) { try await communicator.wait(timeout: .seconds(10)) }
        let summary = try Self.only(summaries)
        #expect(summary.status == .ok)
        #expect("\(summary.outcome)" == "failed: Broken()")
    }
}
