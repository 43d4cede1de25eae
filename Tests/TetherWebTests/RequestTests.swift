import Foundation
import HTTPTypes
import NIOCore
import TestSupport
import Testing
import TetherGateway
import TetherTesting
import TetherWeb

/// What a handler can read of a request.
@Suite struct RequestTests {
    /// Runs `handler` on one request and returns its response.
    static func serve(
        _ method: HTTPRequest.Method = .get,
        _ target: String,
        headers: HTTPFields = [:],
        body: ByteBuffer = ByteBuffer(),
        configuration: WebApplication.Configuration = .init(),
        _ handler: @escaping Handler
    ) async throws -> TestResponse {
        var router = Router()
        router.on(method, "*rest", handler)
        router.on(method, "/", handler)
        return try await TestClient(WebApplication(router: router, configuration: configuration))
            .request(method, target, headers: headers, body: body)
    }

    @Test func queryParametersKeepRepeatsAndDecode() async throws {
        let seen = Box<QueryParameters?>(nil)
        _ = try await Self.serve(.get, "/q?a=1&b=x+y&a=2&c=%E2%9C%93&flag") { request in
            seen.value = request.query
            return .text("")
        }
        let query = try #require(seen.value)
        #expect(query["a"] == "2")
        #expect(query.values(for: "a") == ["1", "2"])
        #expect(query["b"] == "x y")
        #expect(query["c"] == "✓")
        #expect(query["flag"] == "")
        #expect(query.get("a", as: Int.self) == 2)
        #expect(query["missing"] == nil)
    }

    @Test func percentEncodedInvalidUTF8QueryIs400AndNoHandlerRuns() async throws {
        let ran = Box(false)
        let response = try await Self.serve(.get, "/?name=%FF") { _ in
            ran.value = true
            return .text("")
        }
        #expect(response.status == .badRequest)
        #expect(response.body.readableBytes == 0)
        #expect(!ran.value)
    }

    @Test func scopeFieldsAreExposed() async throws {
        let seen = Box<[String]>([])
        let scope = HTTPScope(
            method: .get, scheme: "https", path: "/a b", rawPath: "/a%20b", queryString: Array("x=1".utf8),
            rootPath: "/mount", headers: [HTTPField.Name("Host")!: "example.org"],
            client: try SocketAddress(ipAddress: "127.0.0.1", port: 5000),
            server: try SocketAddress(ipAddress: "127.0.0.1", port: 8000))
        var router = Router()
        router.get("/a b") { request in
            seen.value = [
                request.method.rawValue, request.path, request.rawPath,
                String(decoding: request.queryString, as: UTF8.self),
                request.scheme, request.rootPath, request.headers[HTTPField.Name("Host")!] ?? "",
                "\(request.client?.port ?? 0)",
                "\(request.server?.port ?? 0)",
            ]
            return .text("")
        }
        let communicator = ApplicationCommunicator(WebApplication(router: router), scope: .http(scope))
        communicator.send(.body(ByteBuffer(), more: false))
        _ = try await receiveResponse(from: communicator)
        #expect(seen.value == ["GET", "/a b", "/a%20b", "x=1", "https", "/mount", "example.org", "5000", "8000"])
    }

    @Test func headersAreCaseInsensitiveAndRepeatsJoin() async throws {
        let seen = Box<[String?]>([])
        var headers = HTTPFields()
        headers.append(HTTPField(name: HTTPField.Name("x-Custom")!, value: "one"))
        headers.append(HTTPField(name: HTTPField.Name("X-CUSTOM")!, value: "two"))
        headers.append(HTTPField(name: .cookie, value: "a=1"))
        headers.append(HTTPField(name: .cookie, value: "b=2"))
        _ = try await Self.serve(.get, "/", headers: headers) { request in
            seen.value = [
                request.header(HTTPField.Name("x-custom")!), request.header(.cookie), request.header(.accept),
            ]
            return .text("")
        }
        #expect(seen.value == ["one,two", "a=1; b=2", nil])
    }

    struct Item: Codable, Equatable {
        var name: String
        var count: Int
    }

    @Test func bodyAsJSON() async throws {
        let response = try await Self.serve(.post, "/", body: ByteBuffer(string: #"{"name":"pear","count":3}"#)) {
            request in
            var item = try await request.json(Item.self)
            item.count += 1
            return try .json(item)
        }
        #expect(response.headers[.contentType] == "application/json")
        #expect(
            try JSONDecoder().decode(Item.self, from: Data(response.body.readableBytesView))
                == Item(name: "pear", count: 4))
    }

    @Test func invalidJSONIs400() async throws {
        let response = try await Self.serve(.post, "/", body: ByteBuffer(string: "{nope")) { request in
            _ = try await request.json(Item.self)
            return .text("parsed")
        }
        #expect(response.status == .badRequest)
    }

    @Test func bodyAsForm() async throws {
        let response = try await Self.serve(.post, "/", body: ByteBuffer(string: "name=J%C3%BCrgen+K&tag=a&tag=b")) {
            request in
            let form = try await request.form()
            return .text("\(form["name"]!)|\(form.values(for: "tag").joined(separator: ","))")
        }
        #expect(response.text == "Jürgen K|a,b")
    }

    @Test(arguments: [10, 100_000])
    func bodyAsStreamOfChunks(size: Int) async throws {
        let directory = try TemporaryDirectory()
        let sizes = Box<[Int]>([])
        let body = ByteBuffer(bytes: (0..<size).map { UInt8(truncatingIfNeeded: $0) })
        let response = try await Self.serve(
            .post, "/", body: body, configuration: .spooling(to: directory.path, threshold: 1000)
        ) { request in
            var all = ByteBuffer()
            for try await var chunk in request.body.chunks(chunkSize: 4096) {
                sizes.mutate { $0.append(chunk.readableBytes) }
                all.writeBuffer(&chunk)
            }
            return Response(body: ResponseBody(all))
        }
        #expect(response.body == body)
        #expect(sizes.value.allSatisfy { $0 <= 4096 })
        #expect(sizes.value.reduce(0, +) == size)
    }
}

/// What the web layer tells the server about a request, through its RequestObservation.
@Suite struct RequestObservationTests {
    static func observed(
        _ router: Router, _ method: HTTPRequest.Method = .get, path: String
    ) async throws -> RequestObservation {
        let observation = RequestObservation(requestID: "req-1")
        let client = TestClient(WebApplication(router: router))
        _ = try await RequestObservation.$current.withValue(observation) {
            try await client.send(TestRequest(method, path))
        }
        return observation
    }

    @Test func theMatchedRoutesPatternIsReportedWithItsGroupsPrefixAndNeverThePath() async throws {
        var router = Router()
        router.get("/items/:id") { _ in .text("item") }
        router.group("/api/") { group in
            group.get("/users/:id/") { request in .text(request.id ?? "none") }
        }
        #expect(try await Self.observed(router, path: "/items/42").route == "/items/:id")
        #expect(try await Self.observed(router, path: "/api/users/7/").route == "/api/users/:id/")
        #expect(try await Self.observed(router, path: "/nowhere").route == nil)
        #expect(try await Self.observed(router, .post, path: "/items/42").route == nil)
    }

    @Test func aRoutesDeadlineIsItsExpectedDurationAndItsCancellationIsRecorded() async throws {
        var router = Router()
        router.get("/quick", deadline: .seconds(30)) { _ in .text("quick") }
        router.get("/stuck", deadline: .milliseconds(20)) { _ in
            try await Task.sleep(for: .seconds(30))
            return .text("never")
        }
        let quick = try await Self.observed(router, path: "/quick")
        #expect(quick.expectedDuration == .seconds(30))
        #expect(quick.cancellationReason == nil)
        let stuck = try await Self.observed(router, path: "/stuck")
        #expect(stuck.cancellationReason == .requestDeadline)
        #expect(stuck.departure != nil)
    }

    @Test func aHandlerSeesItsIDAndItsExpectationCountsAsWorkSaved() async throws {
        var router = Router()
        router.get("/id") { request in
            request.observation?.expect(.seconds(10))
            return .text(request.id ?? "none")
        }
        let observation = RequestObservation(requestID: "req-1")
        let client = TestClient(WebApplication(router: router))
        let response = try await RequestObservation.$current.withValue(observation) {
            try await client.get("/id")
        }
        #expect(response.text == "req-1")
        let started = ContinuousClock.now
        observation.handlerStarted(at: started)
        let saved = observation.workSaved(cancelledAt: started + .seconds(4))
        #expect(saved == WorkSaved(duration: .seconds(6), basis: .expected))
        // A departure before the handler began saves all of it, never a negative time.
        #expect(observation.workSaved(cancelledAt: started - .seconds(1))?.duration == .seconds(10))
        let unknown = RequestObservation(requestID: nil)
        unknown.handlerStarted(at: started)
        #expect(
            unknown.workSaved(cancelledAt: started + .seconds(2)) == WorkSaved(duration: .seconds(2), basis: .elapsed))
    }

    @Test func aSpooledBodyIsReportedWithItsSize() async throws {
        var router = Router()
        router.post("/upload") { request in .text("\(request.body.count)") }
        var configuration = WebApplication.Configuration()
        configuration.spoolThreshold = 16
        let observation = RequestObservation(requestID: nil)
        let client = TestClient(WebApplication(router: router, configuration: configuration))
        let response = try await RequestObservation.$current.withValue(observation) {
            try await client.post("/upload", body: ByteBuffer(repeating: 1, count: 100))
        }
        #expect(response.text == "100")
        #expect(observation.spooledBytes == 100)
    }
}
