import TestSupport
import Testing
import TetherTesting
import TetherWeb

/// Groups add a prefix and middleware to their routes; middleware hands typed values to handlers through storage.
@Suite struct RouteGroupTests {
    struct User: Sendable {
        var name: String
    }

    enum UserKey: RequestStorageKey {
        typealias Value = User
    }

    /// Takes the user from the bearer token, or answers 401.
    static let authenticate = InlineMiddleware { request, next in
        guard let token = request.headers[.authorization], token.hasPrefix("Bearer ") else {
            throw HTTPError(.unauthorized, message: "Sign in first.")
        }
        var request = request
        request.storage[UserKey.self] = User(name: String(token.dropFirst("Bearer ".count)))
        return try await next(request)
    }

    /// Records its name on the way in.
    static func tag(_ name: String, into log: Box<[String]>) -> InlineMiddleware {
        InlineMiddleware { request, next in
            log.mutate { $0.append(name) }
            return try await next(request)
        }
    }

    static let admin: WebApplication = {
        var router = Router()
        router.get("/public") { request in .text("user: \(request.storage[UserKey.self]?.name ?? "none")") }
        router.group("/admin", middleware: [Self.authenticate]) { admin in
            admin.get("/users") { request in .text("users for \(request.storage[UserKey.self]!.name)") }
            admin.post("/users", blocking: { request in .text("added by \(request.storage[UserKey.self]!.name)") })
        }
        return WebApplication(router: router)
    }()

    @Test func aGroupsRoutesAreUnderItsPrefixAndRunItsMiddleware() async throws {
        let client = TestClient(Self.admin)
        let denied = try await client.get("/admin/users")
        #expect(denied.status == .unauthorized)
        #expect(denied.text == "Sign in first.")
        #expect(try await client.get("/admin/users", headers: [.authorization: "Bearer ada"]).text == "users for ada")
        #expect(try await client.post("/admin/users", headers: [.authorization: "Bearer bob"]).text == "added by bob")
    }

    @Test func routesOutsideTheGroupDoNotRunItsMiddleware() async throws {
        let response = try await TestClient(Self.admin).get("/public")
        #expect(response.status == .ok)
        #expect(response.text == "user: none")
    }

    @Test func groupsNestWithTheOuterMiddlewareFirst() async throws {
        let log = Box<[String]>([])
        var router = Router()
        router.group("/api", middleware: [Self.tag("api", into: log)]) { api in
            api.get("/health") { _ in .text("up") }
            api.group("v1", middleware: [Self.tag("v1", into: log), Self.tag("v1 second", into: log)]) { v1 in
                v1.get("/items/<int:id>") { request in
                    log.mutate { $0.append("handler") }
                    return .text("item \(try request.parameters.require("id", as: Int.self))")
                }
            }
        }
        let client = TestClient(WebApplication(router: router, middleware: [Self.tag("app", into: log)]))
        #expect(try await client.get("/api/v1/items/7").text == "item 7")
        #expect(log.value == ["app", "api", "v1", "v1 second", "handler"])
        log.value = []
        #expect(try await client.get("/api/health").text == "up")
        #expect(log.value == ["app", "api"])
    }

    @Test func aGroupMiddlewaresErrorIsAResponseForTheApplicationsMiddleware() async throws {
        let seen = Box<Int?>(nil)
        let outer = InlineMiddleware { request, next in
            let response = try await next(request)
            seen.value = response.status.code
            return response
        }
        var router = Router()
        router.group("/admin", middleware: [Self.authenticate]) { admin in admin.get("/") { _ in .text("secret") } }
        let response = try await TestClient(WebApplication(router: router, middleware: [outer])).get("/admin/")
        #expect(response.status == .unauthorized)
        #expect(seen.value == 401)
    }

    @Test func aGroupsMiddlewareSeesItsHandlersErrorsAsResponses() async throws {
        let seen = Box<Int?>(nil)
        let inner = InlineMiddleware { request, next in
            let response = try await next(request)
            seen.value = response.status.code
            return response
        }
        var router = Router()
        router.group("/g", middleware: [inner]) { group in
            group.get("/teapot") { _ in throw HTTPError(.init(code: 418), message: "short and stout") }
        }
        let response = try await TestClient(WebApplication(router: router)).get("/g/teapot")
        #expect(response.status.code == 418)
        #expect(seen.value == 418)
    }

    @Test func middlewarePassesAChangedRequestToNext() async throws {
        let rewrite = InlineMiddleware { request, next in
            var request = request
            request.parameters["name"] = "changed"
            return try await next(request)
        }
        var router = Router()
        router.group("/", middleware: [rewrite]) { root in
            root.get("/hello/:name") { request in .text("hello \(request.parameters["name"]!)") }
        }
        #expect(try await TestClient(WebApplication(router: router)).get("/hello/ada").text == "hello changed")
    }
}
