import Foundation
import Logging
import TestSupport
import Testing
import TetherTesting
import TetherWeb

/// Errors are answered where they are thrown, rendered once for the whole application, and never leak internals.
@Suite struct ErrorRenderingTests {
    static let frameOptions = HTTPField.Name("X-Frame-Options")!

    /// Adds a header to whatever comes back, as a security-headers or CORS middleware does.
    static let securityHeaders = InlineMiddleware { request, next in
        var response = try await next(request)
        response.headers[Self.frameOptions] = "DENY"
        return response
    }

    /// Lets only requests with the right token through.
    static let requireToken = InlineMiddleware { request, next in
        guard request.headers[.authorization] == "Bearer yes" else {
            throw HTTPError(.unauthorized, message: "Sign in first.")
        }
        return try await next(request)
    }

    struct DatabaseDown: Error, CustomStringConvertible {
        var description: String { "connection to postgres://admin:hunter2@db failed" }
    }

    static func app(
        logger: Logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() },
        renderer: ErrorRenderer = .standard
    ) -> WebApplication {
        var router = Router()
        router.get("/ok") { _ in .text("ok") }
        router.get("/broken") { _ in throw DatabaseDown() }
        router.get("/conflict") { _ in throw HTTPError(.conflict, message: "The item was changed meanwhile.") }
        router.post("/only-post") { _ in .text("posted") }
        var configuration = WebApplication.Configuration()
        configuration.logger = logger
        configuration.errorRenderer = renderer
        return WebApplication(
            router: router, middleware: [securityHeaders, requireToken], configuration: configuration)
    }

    static let signedIn: HTTPFields = [.authorization: "Bearer yes"]

    @Test(arguments: [("/nowhere", 404), ("/ok", 405), ("/broken", 500), ("/conflict", 409)])
    func outerMiddlewareAddsHeadersToErrorAnswers(path: String, status: Int) async throws {
        let method: HTTPRequest.Method = status == 405 ? .put : .get
        let response = try await TestClient(Self.app()).request(method, path, headers: Self.signedIn)
        #expect(response.status.code == status)
        #expect(response.headers[Self.frameOptions] == "DENY")
    }

    @Test func aMethodNotAllowedKeepsItsAllowHeader() async throws {
        let response = try await TestClient(Self.app()).request(.put, "/ok", headers: Self.signedIn)
        #expect(response.headers[.allow] == "GET, HEAD")
    }

    @Test func anInnerMiddlewaresErrorIsAResponseForTheOuterOne() async throws {
        let response = try await TestClient(Self.app()).get("/ok")
        #expect(response.status == .unauthorized)
        #expect(response.text == "Sign in first.")
        #expect(response.headers[Self.frameOptions] == "DENY")
    }

    @Test(arguments: [nil, "application/json"])
    func anInternalErrorIsLoggedAndNotShown(accept: String?) async throws {
        let records = LogRecords()
        let logger = Logger(label: "test") { _ in RecordingLogHandler(records: records) }
        var headers = Self.signedIn
        headers[.accept] = accept
        let response = try await TestClient(Self.app(logger: logger)).get("/broken", headers: headers)
        #expect(response.status == .internalServerError)
        #expect(!response.text.contains("hunter2"))
        #expect(!response.text.contains("DatabaseDown"))
        #expect(records.messages.contains { $0.contains("hunter2") })
    }

    @Test(arguments: [
        ("application/json", true),
        ("application/problem+json", true),
        ("text/html,application/json;q=0.9", false),
        ("application/json;q=0.5, text/*;q=0.4", true),
        ("*/*", false),
        ("application/json, */*;q=0.1", true),
        ("text/plain", false),
    ])
    func theFormatFollowsAccept(accept: String, json: Bool) async throws {
        let headers: HTTPFields = [.authorization: "Bearer yes", .accept: accept]
        let response = try await TestClient(Self.app()).get("/conflict", headers: headers)
        #expect(response.status == .conflict)
        if json {
            #expect(response.headers[.contentType] == "application/json")
            let body = try JSONDecoder().decode(ErrorBody.self, from: Data(response.body.readableBytesView))
            #expect(body.error.status == 409)
            #expect(body.error.message == "The item was changed meanwhile.")
        } else {
            #expect(response.headers[.contentType] == "text/plain; charset=utf-8")
            #expect(response.text == "The item was changed meanwhile.")
        }
    }

    @Test func jsonNamesTheStatusWhenTheErrorHasNoMessage() async throws {
        let headers: HTTPFields = [.authorization: "Bearer yes", .accept: "application/json"]
        let response = try await TestClient(Self.app()).get("/broken", headers: headers)
        let body = try JSONDecoder().decode(ErrorBody.self, from: Data(response.body.readableBytesView))
        #expect(body.error.message == "Internal Server Error")
    }

    @Test func aCustomRendererAnswersEveryErrorAndMiddlewareStillWrapsIt() async throws {
        let renderer = ErrorRenderer { error, request in
            .html("<h1>\(error.status.code)</h1><p>\(request.path)</p>", status: error.status)
        }
        let client = TestClient(Self.app(renderer: renderer))
        for (path, code) in [("/nowhere", 404), ("/broken", 500)] {
            let response = try await client.get(path, headers: Self.signedIn)
            #expect(response.status.code == code)
            #expect(response.text == "<h1>\(code)</h1><p>\(path)</p>")
            #expect(response.headers[Self.frameOptions] == "DENY")
        }
        #expect(try await client.get("/ok").text == "<h1>401</h1><p>/ok</p>")
    }

    @Test func aDepartedClientPassesThroughMiddlewareUnanswered() async throws {
        let seen = Box<String?>(nil)
        let watcher = InlineMiddleware { request, next in
            do {
                return try await next(request)
            } catch {
                seen.value = "\(type(of: error))"
                throw error
            }
        }
        var router = Router()
        router.get("/gone") { _ in throw ClientDisconnected() }
        let communicator = ApplicationCommunicator(
            WebApplication(router: router, middleware: [watcher]), scope: .http(HTTPScope(target: "/gone")))
        communicator.send(.body(ByteBuffer(), more: false))
        try await communicator.wait(timeout: .seconds(10))
        #expect(seen.value == "ClientDisconnected")
        #expect(try await communicator.receiveNothing(timeout: .milliseconds(10)))
    }

    @Test func cancellationPassesThroughMiddlewareUnanswered() async throws {
        let started = Latch()
        let seen = Box<String?>(nil)
        let watcher = InlineMiddleware { request, next in
            do {
                return try await next(request)
            } catch {
                seen.value = "\(type(of: error))"
                throw error
            }
        }
        var router = Router()
        router.get("/slow") { _ in
            started.open()
            try await Task.sleep(for: .seconds(60))
            return .text("late")
        }
        let communicator = ApplicationCommunicator(
            WebApplication(router: router, middleware: [watcher]), scope: .http(HTTPScope(target: "/slow")))
        communicator.send(.body(ByteBuffer(), more: false))
        #expect(await started.wait())
        communicator.send(.disconnect)
        try await communicator.wait(timeout: .seconds(10))
        #expect(seen.value == "CancellationError")
        #expect(try await communicator.receiveNothing(timeout: .milliseconds(10)))
    }
}

/// The JSON error body of ``ErrorRenderer/json``.
struct ErrorBody: Decodable {
    struct Detail: Decodable {
        var status: Int
        var message: String
    }

    var error: Detail
}
