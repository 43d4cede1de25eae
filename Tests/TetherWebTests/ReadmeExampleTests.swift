import Testing
import TetherTesting
import TetherWeb

// README.md's "An application in ten lines" and its test, as written there, so that a change that breaks the README
// breaks the build. Only what a test file needs differs: the router's statements are in the closure that makes
// `app`, since a file other than `main.swift` has no top-level statements.

let app: WebApplication = {
    var router = Router()
    router.get("/hello/") { request in
        .text("Hello \(request.query["name"] ?? "World")!")
    }
    router.get("/items/<int:id>") { request in
        .text("item \(try request.parameters.require("id", as: Int.self))")
    }
    router.get("/report/", blocking: { request in .text(buildReport(stopping: request.cancellation)) })
    return WebApplication(router: router)
}()

/// Synchronous work, run on a worker thread; it stops early once the client has gone.
func buildReport(stopping cancellation: CancellationFlag) -> String {
    var rows: [String] = []
    while rows.count < 100_000, !cancellation.isCancelled { rows.append("row \(rows.count + 1)") }
    return rows.joined(separator: "\n")
}

@Test func hello() async throws {
    let response = try await TestClient(app).get("/hello/?name=Ada")
    #expect(response.status == .ok)
    #expect(response.text == "Hello Ada!")
}

@Suite struct ReadmeExampleTests {
    @Test func theOtherRoutesAnswerAsTheReadmeSays() async throws {
        let client = TestClient(app)
        #expect(try await client.get("/hello/").text == "Hello World!")
        #expect(try await client.get("/items/42").text == "item 42")
        let report = try await client.get("/report/")
        #expect(report.text.hasPrefix("row 1\nrow 2\n"))
        #expect(report.text.hasSuffix("\nrow 100000"))
    }
}
