import NIOCore
import TestSupport
import Testing
import TetherTesting
import TetherWeb

/// Patterns, typed parameters, 404 and 405.
@Suite struct RoutingTests {
    static let app: WebApplication = {
        var router = Router()
        router.get("/items/:name") { request in .text("item \(request.parameters["name"]!)") }
        router.get("/items/<int:id>/edit") { request in
            .text("edit \(try request.parameters.require("id", as: Int.self))")
        }
        router.get("/items/new") { _ in .text("new") }
        router.put("/items/:name") { request in .text("put \(request.parameters["name"]!)") }
        router.get("/users/<uuid:id>/") { request in .text("user \(request.parameters["id"]!)") }
        router.get("/articles/<slug:slug>/") { request in .text("article \(request.parameters["slug"]!)") }
        router.get("/files/*path") { request in .text("file \(request.parameters["path"]!)") }
        router.delete("/items/:name") { _ in Response(status: .noContent) }
        return WebApplication(router: router)
    }()

    @Test(arguments: [
        ("/items/apple", "item apple"),
        ("/items/apple/", "item apple"),
        ("/items/new", "new"),
        ("/items/42/edit", "edit 42"),
        ("/users/123e4567-e89b-12d3-a456-426614174000/", "user 123e4567-e89b-12d3-a456-426614174000"),
        ("/articles/hello-world_2/", "article hello-world_2"),
        ("/files/a/b/c.txt", "file a/b/c.txt"),
        ("/items/caf%C3%A9", "item café"),
    ])
    func matchesPatterns(path: String, expected: String) async throws {
        let response = try await TestClient(Self.app).get(path)
        #expect(response.status == .ok)
        #expect(response.text == expected)
    }

    @Test(arguments: ["/", "/items", "/items/x/edit", "/users/not-a-uuid/", "/articles/no%20spaces/", "/nothing/here"])
    func unknownPathsAre404(path: String) async throws {
        let response = try await TestClient(Self.app).get(path)
        #expect(response.status == .notFound)
    }

    @Test func otherMethodsAre405WithAllow() async throws {
        let response = try await TestClient(Self.app).post("/items/apple")
        #expect(response.status == .methodNotAllowed)
        #expect(response.headers[.allow] == "DELETE, GET, HEAD, PUT")
    }

    @Test func onlyTheBlockingLabelMakesAHandlerBlocking() async throws {
        // A blocking handler runs on a pool thread, outside any task; an async one runs in the request's task.
        let where_: @Sendable () -> String = { withUnsafeCurrentTask { $0 == nil } ? "thread pool" : "task" }
        var router = Router()
        router.get("/trailing/") { _ in .text(where_()) }
        router.get("/blocking/", blocking: { _ in .text(where_()) })
        router.on(.get, "/on/", blocking: { _ in .text(where_()) })
        let client = TestClient(WebApplication(router: router))
        #expect(try await client.get("/trailing/").text == "task")
        #expect(try await client.get("/blocking/").text == "thread pool")
        #expect(try await client.get("/on/").text == "thread pool")
    }

    @Test func methodsAreMatched() async throws {
        let client = TestClient(Self.app)
        #expect(try await client.put("/items/pear").text == "put pear")
        #expect(try await client.delete("/items/pear").status == .noContent)
    }

    @Test func headUsesTheGetHandlerWithoutABody() async throws {
        let response = try await TestClient(Self.app).head("/items/apple")
        #expect(response.status == .ok)
        #expect(response.headers[.contentLength] == "10")
        #expect(response.body.readableBytes == 0)
    }

    @Test func aParameterThatDoesNotConvertIs400() async throws {
        var router = Router()
        router.get("/n/:n") { request in .text("\(try request.parameters.require("n", as: Int.self))") }
        let response = try await TestClient(WebApplication(router: router)).get("/n/abc")
        #expect(response.status == .badRequest)
        #expect(response.text == "Path parameter 'n' is not a valid Int.")
    }
}

/// Middleware wraps handlers in order, and can answer by itself.
@Suite struct MiddlewareTests {
    @Test func middlewareRunsOutermostFirstAndCanWrapTheResponse() async throws {
        let order = Box<[String]>([])
        let tag = { (name: String) in
            InlineMiddleware { request, next in
                order.mutate { $0.append("\(name) in") }
                var response = try await next(request)
                order.mutate { $0.append("\(name) out") }
                response.headers[.init("X-Seen")!] = (response.headers[.init("X-Seen")!] ?? "") + name
                return response
            }
        }
        var router = Router()
        router.get("/") { _ in
            order.mutate { $0.append("handler") }
            return .text("ok")
        }
        let app = WebApplication(router: router, middleware: [tag("a"), tag("b")])
        let response = try await TestClient(app).get("/")
        #expect(order.value == ["a in", "b in", "handler", "b out", "a out"])
        #expect(response.headers[.init("X-Seen")!] == "ba")
    }

    @Test func middlewareCanShortCircuit() async throws {
        let handled = Box(false)
        let auth = InlineMiddleware { request, next in
            guard request.headers[.authorization] == "Bearer yes" else { return .text("no", status: .unauthorized) }
            return try await next(request)
        }
        var router = Router()
        router.get("/") { _ in
            handled.value = true
            return .text("secret")
        }
        let client = TestClient(WebApplication(router: router, middleware: [auth]))
        #expect(try await client.get("/").status == .unauthorized)
        #expect(!handled.value)
        #expect(try await client.get("/", headers: [.authorization: "Bearer yes"]).text == "secret")
    }

    @Test func middlewareSeesHandlerErrorsAsResponses() async throws {
        let seen = Box<Int?>(nil)
        let catcher = InlineMiddleware { request, next in
            let response = try await next(request)
            seen.value = response.status.code
            return .text("handled", status: .ok)
        }
        var router = Router()
        router.get("/") { _ in throw HTTPError(.init(code: 418), message: "short and stout") }
        let response = try await TestClient(WebApplication(router: router, middleware: [catcher])).get("/")
        #expect(seen.value == 418)
        #expect(response.text == "handled")
    }
}
