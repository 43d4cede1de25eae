import HTTPTypes
import NIOCore
import TestSupport
import Testing
import TetherGateway
import TetherTesting
import TetherWeb

/// Cross-origin requests: preflights answered by the middleware, CORS fields for allowed origins only.
@Suite struct CORSMiddlewareTests {
    static let app = "https://app.example"
    static let evil = "https://evil.example"
    static let requestID = HTTPField.Name("X-Request-ID")!

    /// A client for an application behind `cors`, counting the requests its handlers see.
    static func client(_ cors: CORSMiddleware, handled: Box<Int> = Box(0)) -> TestClient {
        var router = Router()
        router.get("/items") { _ in
            handled.mutate { $0 += 1 }
            return .text("items")
        }
        router.on(.options, "/items") { _ in
            handled.mutate { $0 += 1 }
            return Response(status: .ok, headers: [.allow: "GET, OPTIONS"])
        }
        router.get("/negotiated") { _ in
            var response = Response.text("negotiated")
            response.headers[.vary] = "Accept-Encoding"
            return response
        }
        return TestClient(WebApplication(router: router, middleware: [cors]))
    }

    /// The response's `Access-Control-*` fields.
    static func corsFields(_ response: TestResponse) -> [HTTPField] {
        response.headers.filter { $0.name.canonicalName.hasPrefix("access-control-") }
    }

    @Test func anAllowedOriginIsEchoedWithVary() async throws {
        let cors = CORSMiddleware(allowedOrigins: .list([Self.app]), exposedHeaders: [Self.requestID])
        let response = try await Self.client(cors).get("/items", headers: [.origin: Self.app])
        #expect(response.text == "items")
        #expect(response.headers[.accessControlAllowOrigin] == Self.app)
        #expect(response.headers[.accessControlExposeHeaders] == "X-Request-ID")
        #expect(response.headers[.accessControlAllowCredentials] == nil)
        #expect(response.headers[.vary] == "Origin")
    }

    @Test func aDisallowedOriginGetsNoCORSFields() async throws {
        let handled = Box(0)
        let client = Self.client(
            CORSMiddleware(allowedOrigins: .list([Self.app]), allowsCredentials: true), handled: handled)
        let response = try await client.get("/items", headers: [.origin: Self.evil])
        #expect(response.text == "items")
        #expect(Self.corsFields(response).isEmpty)
        // The answer depends on the origin, so caches must keep it apart from the allowed origin's.
        #expect(response.headers[.vary] == "Origin")
        let preflight = try await client.request(
            .options, "/items", headers: [.origin: Self.evil, .accessControlRequestMethod: "PUT"])
        #expect(preflight.status == .noContent)
        #expect(Self.corsFields(preflight).isEmpty)
        #expect(handled.value == 1)
    }

    @Test func aRequestWithoutOriginGetsNoCORSFields() async throws {
        let response = try await Self.client(CORSMiddleware(allowedOrigins: .list([Self.app]))).get("/items")
        #expect(response.text == "items")
        #expect(Self.corsFields(response).isEmpty)
        #expect(response.headers[.vary] == "Origin")
    }

    @Test func anyOriginIsAStarWithoutCredentialsAndEchoedWithThem() async throws {
        let star = try await Self.client(CORSMiddleware(allowedOrigins: .any)).get(
            "/items", headers: [.origin: Self.evil])
        #expect(star.headers[.accessControlAllowOrigin] == "*")
        #expect(star.headers[.vary] == nil)
        let echoed = try await Self.client(CORSMiddleware(allowedOrigins: .any, allowsCredentials: true))
            .get("/items", headers: [.origin: Self.evil])
        #expect(echoed.headers[.accessControlAllowOrigin] == Self.evil)
        #expect(echoed.headers[.accessControlAllowCredentials] == "true")
        #expect(echoed.headers[.vary] == "Origin")
    }

    @Test func aPreflightIsAnsweredWithoutTheHandler() async throws {
        let handled = Box(0)
        let cors = CORSMiddleware(
            allowedOrigins: .list([Self.evil, Self.app]), allowedMethods: [.get, .put],
            allowedHeaders: .list([.contentType, Self.requestID]), allowsCredentials: true, maxAge: .seconds(3600))
        let response = try await Self.client(cors, handled: handled).request(
            .options, "/items",
            headers: [
                .origin: Self.app, .accessControlRequestMethod: "PUT", .accessControlRequestHeaders: "content-type",
            ])
        #expect(response.status == .noContent)
        #expect(response.body.readableBytes == 0)
        #expect(response.headers[.accessControlAllowOrigin] == Self.app)
        #expect(response.headers[.accessControlAllowMethods] == "GET, PUT")
        #expect(response.headers[.accessControlAllowHeaders] == "Content-Type, X-Request-ID")
        #expect(response.headers[.accessControlAllowCredentials] == "true")
        #expect(response.headers[.accessControlMaxAge] == "3600")
        #expect(response.headers[.vary] == "Origin")
        #expect(handled.value == 0)
    }

    @Test func anyHeadersEchoWhatThePreflightAsksFor() async throws {
        var headers: HTTPFields = [.origin: Self.app, .accessControlRequestMethod: "PATCH"]
        headers.append(HTTPField(name: .accessControlRequestHeaders, value: "x-one"))
        headers.append(HTTPField(name: .accessControlRequestHeaders, value: "x-two"))
        let response = try await Self.client(CORSMiddleware(allowedOrigins: .any, allowedHeaders: .any, maxAge: nil))
            .request(.options, "/items", headers: headers)
        #expect(response.headers[.accessControlAllowOrigin] == "*")
        #expect(response.headers[.accessControlAllowHeaders] == "x-one,x-two")
        #expect(response.headers[.accessControlMaxAge] == nil)
        #expect(response.headers[.vary] == "Access-Control-Request-Headers")
    }

    @Test func anOptionsRequestThatIsNoPreflightGoesToTheHandler() async throws {
        let handled = Box(0)
        let response = try await Self.client(CORSMiddleware(allowedOrigins: .any), handled: handled)
            .request(.options, "/items", headers: [.origin: Self.app])
        #expect(response.status == .ok)
        #expect(response.headers[.allow] == "GET, OPTIONS")
        #expect(response.headers[.accessControlAllowOrigin] == "*")
        #expect(handled.value == 1)
    }

    @Test func errorAnswersGetTheFieldsToo() async throws {
        // A page must be able to read a 404 as a 404, not as a CORS failure.
        let response = try await Self.client(CORSMiddleware(allowedOrigins: .list([Self.app])))
            .get("/missing", headers: [.origin: Self.app])
        #expect(response.status == .notFound)
        #expect(response.headers[.accessControlAllowOrigin] == Self.app)
    }

    @Test func varyIsAddedToWhatTheResponseAlreadyVariesOn() async throws {
        let response = try await Self.client(CORSMiddleware(allowedOrigins: .list([Self.app])))
            .get("/negotiated", headers: [.origin: Self.app])
        #expect(response.headers[.vary] == "Accept-Encoding, Origin")
    }
}
