import TestSupport
import Testing
import TetherTesting
import TetherWeb

/// Every method has one shape: a trailing closure is async, `blocking:` runs on the pool, `deadline:` applies to both.
@Suite struct RouterMethodsTests {
    static let ranOn = HTTPField.Name("X-Ran-On")!

    /// Where the handler runs: a blocking handler on a pool thread, outside any task; an async one in the task.
    @Sendable static func whereItRan(_ request: Request) -> Response {
        var response = Response(status: .noContent)
        response.headers[Self.ranOn] = withUnsafeCurrentTask { $0 == nil } ? "thread pool" : "task"
        return response
    }

    /// A router with a trailing-closure route and a `blocking:` route for `method`, the way a user writes them.
    static func router(for method: HTTPRequest.Method) -> Router {
        var router = Router()
        switch method {
        case .get:
            router.get("/trailing") { request in Self.whereItRan(request) }
            router.get("/blocking", blocking: { request in Self.whereItRan(request) })
        case .post:
            router.post("/trailing") { request in Self.whereItRan(request) }
            router.post("/blocking", blocking: { request in Self.whereItRan(request) })
        case .put:
            router.put("/trailing") { request in Self.whereItRan(request) }
            router.put("/blocking", blocking: { request in Self.whereItRan(request) })
        case .patch:
            router.patch("/trailing") { request in Self.whereItRan(request) }
            router.patch("/blocking", blocking: { request in Self.whereItRan(request) })
        case .delete:
            router.delete("/trailing") { request in Self.whereItRan(request) }
            router.delete("/blocking", blocking: { request in Self.whereItRan(request) })
        case .head:
            router.head("/trailing") { request in Self.whereItRan(request) }
            router.head("/blocking", blocking: { request in Self.whereItRan(request) })
        case .options:
            router.options("/trailing") { request in Self.whereItRan(request) }
            router.options("/blocking", blocking: { request in Self.whereItRan(request) })
        default:
            router.on(method, "/trailing") { request in Self.whereItRan(request) }
            router.on(method, "/blocking", blocking: { request in Self.whereItRan(request) })
        }
        return router
    }

    @Test(arguments: [
        HTTPRequest.Method.get, .post, .put, .patch, .delete, .head, .options, HTTPRequest.Method("PURGE")!,
    ])
    func aTrailingClosureIsAsyncAndBlockingRunsOnThePool(method: HTTPRequest.Method) async throws {
        let client = TestClient(WebApplication(router: Self.router(for: method)))
        #expect(try await client.request(method, "/trailing").headers[Self.ranOn] == "task")
        #expect(try await client.request(method, "/blocking").headers[Self.ranOn] == "thread pool")
    }

    @Test func functionsPassWithoutALabelOrAsBlocking() async throws {
        let asyncHandler: Handler = { request in Self.whereItRan(request) }
        var router = Router()
        router.get("/async", asyncHandler)
        router.get("/blocking", blocking: Self.whereItRan)
        router.put("/deadline", deadline: .seconds(5), asyncHandler)
        router.patch("/deadline", deadline: .seconds(5), blocking: Self.whereItRan)
        let client = TestClient(WebApplication(router: router))
        #expect(try await client.get("/async").headers[Self.ranOn] == "task")
        #expect(try await client.get("/blocking").headers[Self.ranOn] == "thread pool")
        #expect(try await client.put("/deadline").headers[Self.ranOn] == "task")
        #expect(try await client.request(.patch, "/deadline").headers[Self.ranOn] == "thread pool")
    }

    @Test func aHeadRouteIsAnsweredInsteadOfTheGetRoutesHead() async throws {
        var router = Router()
        router.get("/") { _ in .text("from get") }
        router.head("/") { _ in Response(status: .ok, headers: [Self.ranOn: "head"]) }
        let response = try await TestClient(WebApplication(router: router)).head("/")
        #expect(response.headers[Self.ranOn] == "head")
    }
}
