import Foundation
import Logging
import TestSupport
import Testing
import TetherCookieSigning
import TetherMultipart
import TetherTesting
import TetherWeb

// The code of TetherWeb's documentation articles (Sources/TetherWeb/TetherWeb.docc), compiled and run.
//
// Each article's code block appears here character for character, under a `// MARK:` naming the article, and
// `Scripts/docs.sh` checks that it still does. Change an article's snippet here first, then copy it back.

// MARK: - RoutesAndParameters.md

enum SortOrder: String, ParameterConvertible {
    case newest
    case oldest
}

func catalogApp() -> WebApplication {
    var router = Router()
    // `<int:id>` matches digits only, so `/items/abc` is a 404 and `require` cannot fail here.
    router.get("/items/<int:id>") { request in
        let id = try request.parameters.require("id", as: Int.self)
        return .text("item \(id)")
    }
    // Query values convert the same way: `get` is nil when absent or invalid, `require` answers 400.
    router.get("/items/") { request in
        let order = request.query.get("order", as: SortOrder.self) ?? .newest
        let page = try request.query.require("page", as: Int.self)
        return .text("page \(page), \(order) first")
    }
    // `:name` takes any one segment; `<path:file>` the rest of the path, slashes included.
    router.get("/users/:name/files/<path:file>") { request in
        .text("\(request.parameters["name"] ?? "") asks for \(request.parameters["file"] ?? "")")
    }
    return WebApplication(router: router)
}

// MARK: - BlockingHandlers.md

func reportApp() -> WebApplication {
    var router = Router()
    // Runs on the web layer's thread pool, never on an event loop: it may block.
    router.get(
        "/report/",
        blocking: { request in
            let steps = request.query.get("steps", as: Int.self) ?? 100
            var rows: [String] = []
            for step in 1...max(steps, 1) {
                // Set once the client has left (or the route's deadline passed): stop early.
                if request.isCancelled { break }
                Thread.sleep(forTimeInterval: 0.01)  // 10 ms of synchronous work
                rows.append("row \(step)")
            }
            // Once cancelled, this result is discarded: nothing is sent.
            return .text(rows.joined(separator: "\n"))
        })
    // A blocking handler reads its body on its own thread.
    router.post(
        "/lines/",
        blocking: { request in
            let body = try request.body.bytesBlocking()
            return .text("\(String(buffer: body).split(separator: "\n").count) lines")
        })
    return WebApplication(router: router)
}

// MARK: - ErrorsAsResponses.md

struct OutOfStock: Error {}

func shopApp() -> WebApplication {
    var router = Router()
    router.get("/items/<int:id>") { request in
        let id = try request.parameters.require("id", as: Int.self)
        // An HTTPError is answered with its status, and its message shown to the client.
        guard id < 100 else { throw HTTPError(.notFound, message: "There is no item \(id).") }
        // Any other error is a 500; its text is logged, never shown.
        guard id != 13 else { throw OutOfStock() }
        return .text("item \(id)")
    }
    // `next` returns the 404 and the 500 as responses too, so every answer gets the header.
    let noSniff = InlineMiddleware { request, next in
        var response = try await next(request)
        response.headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        return response
    }
    var configuration = WebApplication.Configuration()
    // One renderer for every error answer: router 404 and 405, HTTPError, and the 500.
    configuration.errorRenderer = ErrorRenderer { error, request in
        let message = error.message ?? error.status.reasonPhrase
        var response = Response.text("Error \(error.status.code): \(message)", status: error.status)
        response.headers.append(contentsOf: error.headers)  // such as `Allow` on a 405
        return response
    }
    return WebApplication(router: router, middleware: [noSniff], configuration: configuration)
}

// MARK: - GroupsAndStorage.md

struct Member: Sendable {
    var name: String
}

enum MemberKey: RequestStorageKey {
    typealias Value = Member
}

/// Answers 401 without a bearer token; otherwise stores the member for the handlers after it.
struct RequireMember: Middleware {
    func respond(to request: Request, next: Handler) async throws -> Response {
        guard let token = request.header(.authorization), token.hasPrefix("Bearer ") else {
            throw HTTPError(.unauthorized, headers: [.wwwAuthenticate: "Bearer"])
        }
        var request = request
        request.storage[MemberKey.self] = Member(name: String(token.dropFirst("Bearer ".count)))
        return try await next(request)
    }
}

func clubApp() -> WebApplication {
    var router = Router()
    router.get("/") { _ in .text("welcome") }
    router.group("/members", middleware: [RequireMember()]) { members in
        members.get("/me") { request in
            .text("hello \(request.storage[MemberKey.self]?.name ?? "nobody")")
        }
        // Nested: `/members/events/<int:year>`, behind the outer group's middleware.
        members.group("/events") { events in
            events.get("/<int:year>") { request in .text("events of \(request.parameters["year"] ?? "")") }
        }
    }
    return WebApplication(router: router)
}

// MARK: - RouteDeadlines.md

func searchApp(logger: Logger = Logger(label: "search")) -> WebApplication {
    var router = Router()
    // Past 2 s the handler's task is cancelled and the client gets 504.
    router.get("/search/", deadline: .seconds(2)) { request in
        let milliseconds = request.query.get("ms", as: Int.self) ?? 10
        do {
            try await Task.sleep(for: .milliseconds(milliseconds))  // stands for a slow query
        } catch {
            // Why the work stopped: `request_deadline` here, `client_closed` had the client left.
            logger.debug("search stopped: \(CancellationReason.current.map { "\($0)" } ?? "unknown")")
            throw error
        }
        return .text("results")
    }
    // A blocking handler's flag is set at the deadline, and the 504 waits for its thread.
    router.get("/export/", deadline: .seconds(5), blocking: { _ in .text("export") })
    return WebApplication(router: router)
}

// MARK: - JSONAndValidation.md

struct NewProduct: Decodable, Validatable {
    var name: String
    var stock: Int

    func validate() throws {
        if self.name.isEmpty { throw HTTPError.unprocessable("Field 'name' must not be empty.") }
        if self.stock < 0 { throw HTTPError.unprocessable("Field 'stock' must not be negative.") }
    }
}

struct Product: Codable {
    var id: Int
    var name: String
    var stock: Int
}

func productsApp() -> WebApplication {
    var router = Router()
    router.post("/products/") { request in
        // 400 when the body is not JSON or lacks a field, 422 when `validate()` throws.
        let new = try await request.json(NewProduct.self)
        let product = Product(id: 1, name: new.name, stock: new.stock)
        return try .json(product, status: .created)
    }
    return WebApplication(router: router)
}

// MARK: - StreamsAndEvents.md

func feedApp() -> WebApplication {
    var router = Router()
    // Chunks written as they are produced; `write` throws once the client has gone.
    router.get("/countdown/") { request in
        let start = request.query.get("from", as: Int.self) ?? 3
        return Response(
            headers: [.contentType: "text/plain; charset=utf-8"],
            body: ResponseBody { writer in
                for count in stride(from: start, through: 1, by: -1) {
                    try await writer.write(ByteBuffer(string: "\(count)\n"))
                    try await Task.sleep(for: .milliseconds(10))
                }
            })
    }
    // Any async sequence of strings (or of ByteBuffers) streams as it comes.
    router.get("/lines/") { _ in
        let lines = AsyncStream<String> { continuation in
            for line in ["one\n", "two\n"] { continuation.yield(line) }
            continuation.finish()
        }
        return .stream(lines)
    }
    // Server-sent events, with a `: keep-alive` comment after 15 s of silence.
    router.get("/prices/") { _ in
        let prices = AsyncStream<ServerSentEvent> { continuation in
            for (id, price) in [101, 99].enumerated() {
                continuation.yield(ServerSentEvent(data: #"{"price": \#(price)}"#, event: "price", id: "\(id)"))
            }
            continuation.finish()
        }
        return .eventStream(prices, keepAlive: .seconds(15))
    }
    return WebApplication(router: router)
}

// MARK: - FilesAndStaticFiles.md

func downloadsApp(reports: String, site: String) -> WebApplication {
    var router = Router()
    // 200, 206 for a byte range, 416, 304 for a matching ETag, 404 when the file is missing.
    router.get("/reports/<slug:name>") { request in
        let name = try request.parameters.require("name", as: String.self)
        return try await .file(at: "\(reports)/\(name).csv", for: request, disposition: .attachment)
    }
    // GET and HEAD under /static come from `site`; a path that names no file goes on to the router.
    let files = FileMiddleware(directory: site, prefix: "/static", cacheControl: "public, max-age=3600")
    return WebApplication(router: router, middleware: [files])
}

// MARK: - CrossOriginRequests.md

func publicAPIApp() -> WebApplication {
    var router = Router()
    router.get("/api/fruits") { _ in try .json(["apple", "pear"]) }
    router.put("/api/fruits") { _ in Response(status: .noContent) }
    // Outermost, so that it answers preflights for every path before routing.
    let cors = CORSMiddleware(
        allowedOrigins: .list(["https://app.example.com"]),
        allowedHeaders: .list([.contentType, .authorization]),
        allowsCredentials: true,
        exposedHeaders: [.eTag],
        maxAge: .seconds(3600))
    return WebApplication(router: router, middleware: [cors])
}

// MARK: - FormsAndCookies.md

func profileApp(configuration: WebApplication.Configuration, secret: String) -> WebApplication {
    let signer = CookieSigner(secrets: [secret])
    var router = Router()
    router.post("/avatar") { request in
        try await request.withMultipartForm(spooling: configuration) { form in
            let caption = form.fields["caption"] ?? ""
            let size = form.file("avatar")?.size ?? 0
            return .text("\(caption): \(size) bytes")
        }
    }
    router.post("/login") { _ in
        var response = Response.text("welcome")
        try response.setCookie(SetCookie("user", value: "42", httpOnly: true), signedBy: signer)
        return response
    }
    router.get("/me") { request in
        .text(request.cookies.verified("user", by: signer) ?? "nobody")
    }
    return WebApplication(router: router, configuration: configuration)
}

// MARK: - Compression.md

func compressedApp() -> WebApplication {
    var router = Router()
    router.get("/report") { _ in .text(String(repeating: "the same line, again and again\n", count: 200)) }
    router.get("/tiny") { _ in .text("ok") }
    return WebApplication(router: router, middleware: [CompressionMiddleware(minimumSize: 1024)])
}

// MARK: - HooksAndSummaries.md

func observedApp(log: @escaping @Sendable (String) -> Void) -> WebApplication {
    var router = Router()
    router.get("/hello/") { _ in .text("hello") }
    router.get("/slow/") { _ in
        try await Task.sleep(for: .seconds(10))
        return .text("too late")
    }
    var app = WebApplication(router: router)
    // Django's `request_started`: after the body was read, before routing.
    app.onRequestStarted { scope in log("started \(scope.path)") }
    // Django's `request_finished`: once per request, on every path, after the response's close hooks.
    app.onRequestFinished { summary in
        let status = summary.status.map { "\($0.code)" } ?? "-"
        log("finished \(summary.scope.path) \(status) \(summary.outcome)")
    }
    return app
}

// MARK: - TestingApplications.md

@Test func helloAnswersByName() async throws {
    var router = Router()
    router.get("/hello/") { request in .text("Hello \(request.query["name"] ?? "World")!") }
    let client = TestClient(WebApplication(router: router))

    let response = try await client.get("/hello/?name=Ada")
    #expect(response.status == .ok)
    #expect(response.headers[.contentType] == "text/plain; charset=utf-8")
    #expect(response.text == "Hello Ada!")
    #expect(try await client.post("/hello/").status == .methodNotAllowed)
}

@Test func aClientThatLeavesAfterItsBodyGetsNothing() async throws {
    var router = Router()
    router.post("/slow/") { _ in
        try await Task.sleep(for: .seconds(10))
        return .text("too late")
    }
    let app = WebApplication(router: router)

    // Event by event, as a server drives it: the body, a while, then the client leaving.
    let communicator = ApplicationCommunicator(app, scope: .http(HTTPScope(method: .post, target: "/slow/")))
    communicator.send(.body(ByteBuffer(string: "payload"), more: false))
    #expect(try await communicator.receiveNothing(timeout: .milliseconds(50)))
    communicator.send(.disconnect)
    try await communicator.wait(timeout: .seconds(1))  // the handler was cancelled, and the app returned
    #expect(try await communicator.receiveNothing())
}

// MARK: - YourFirstTetherApp.md

func makeFirstApp() -> WebApplication {
    var router = Router()
    router.get("/hello/") { request in
        .text("Hello \(request.query["name"] ?? "World")!")
    }
    router.get("/items/<int:id>") { request in
        .text("item \(try request.parameters.require("id", as: Int.self))")
    }
    router.get(
        "/primes/",
        blocking: { request in
            let limit = request.query.get("below", as: Int.self) ?? 10_000
            var primes = 0
            for number in 2..<max(limit, 2) {
                if number % 1_000 == 0, request.isCancelled { break }  // the client left
                var divisor = 2
                while divisor * divisor <= number, number % divisor != 0 { divisor += 1 }
                if divisor * divisor > number { primes += 1 }
            }
            return .text("\(primes) primes below \(limit)")
        })
    router.get("/count/") { request in
        let end = request.query.get("to", as: Int.self) ?? 10
        return Response(
            headers: [.contentType: "text/plain; charset=utf-8"],
            body: ResponseBody { writer in
                for number in 1...max(end, 1) {
                    try await writer.write(ByteBuffer(string: "\(number)\n"))
                    try await Task.sleep(for: .milliseconds(100))
                }
            })
    }
    return WebApplication(router: router)
}

@Test func theFirstAppAnswers() async throws {
    let client = TestClient(makeFirstApp())
    #expect(try await client.get("/hello/?name=Ada").text == "Hello Ada!")
    #expect(try await client.get("/items/7").text == "item 7")
    #expect(try await client.get("/items/seven").status == .notFound)
    #expect(try await client.get("/primes/?below=100").text == "25 primes below 100")
    #expect(try await client.get("/count/?to=3").text == "1\n2\n3\n")
}

@Test func theFirstAppStopsWorkingWhenTheClientLeaves() async throws {
    let client = TestClient(makeFirstApp())
    let sent = try await client.request(.get, "/primes/?below=1000000000", disconnectAfter: .milliseconds(100))
    #expect(sent.isEmpty)  // the blocking handler stopped, and its result was discarded
}

// MARK: - FromDjangoToTether.md

func djangoStyleApp(exports: String) -> WebApplication {
    var router = Router()
    // def article(request, slug): return HttpResponse(...)
    router.get("/articles/<slug:slug>/") { request in
        .html("<h1>\(request.parameters["slug"] ?? "")</h1>")
    }
    // StreamingHttpResponse(generator): an async sequence, stopped when the client leaves.
    router.get("/export/") { _ in
        let rows = AsyncStream<String> { continuation in
            for row in 1...3 { continuation.yield("row \(row)\n") }
            continuation.finish()
        }
        return .stream(rows)
    }
    // FileResponse(open(path, "rb"), as_attachment=True), plus ranges and 304s.
    router.get("/exports/<slug:name>") { request in
        let name = try request.parameters.require("name", as: String.self)
        return try await .file(at: "\(exports)/\(name).csv", for: request, disposition: .attachment)
    }
    // A sync view under ASGI (sync_to_async): a blocking handler on a thread pool.
    router.post(
        "/legacy/",
        blocking: { request in
            let body = try request.body.bytesBlocking()
            guard let form = try? QueryParameters(decoding: body.readableBytesView) else {
                throw HTTPError(.badRequest, message: "The form is not valid UTF-8.")
            }
            return .text("saved \(form["title"] ?? "nothing")")
        })
    return WebApplication(router: router)
}

/// The tests that run the snippets above.
// MARK: - WebSockets.md

func chatApp() -> WebApplication {
    var router = Router()
    // Every message comes back; the loop ends when the peer closes, and the handler returns (closing with 1000).
    router.webSocket("/echo/") { _, socket in
        for try await message in socket.messages { try await socket.send(message) }
    }
    // A feed that only sends: the peer leaving cancels it, so its sleep throws and nothing more is sent.
    router.webSocket("/clock/", subprotocols: ["clock.v1"]) { request, socket in
        let interval = request.query.get("ms", as: Int.self) ?? 1000
        var tick = 0
        while true {
            try await socket.send(text: "tick \(tick)")
            tick += 1
            try await Task.sleep(for: .milliseconds(interval))
        }
    }
    // Middleware runs before the handshake: answering for it denies the WebSocket with that response.
    let requireToken = InlineMiddleware { request, next in
        guard request.query["token"] == "secret" else { return .text("who are you?", status: .unauthorized) }
        return try await next(request)
    }
    router.group("/private", middleware: [requireToken]) { group in
        group.webSocket("/room/") { _, socket in
            try await socket.send(text: "welcome")
            try await socket.close(code: 4000, reason: "room closed")
        }
    }
    return WebApplication(router: router)
}

@Suite struct CookbookSnippetTests {
    @Test func routesAndParameters() async throws {
        let client = TestClient(catalogApp())
        #expect(try await client.get("/items/42").text == "item 42")
        #expect(try await client.get("/items/abc").status == .notFound)
        #expect(try await client.get("/items/?page=2&order=oldest").text == "page 2, oldest first")
        #expect(try await client.get("/items/?page=2&order=random").text == "page 2, newest first")
        let missing = try await client.get("/items/")
        #expect(missing.status == .badRequest)
        #expect(missing.text == "Parameter 'page' is missing.")
        #expect(try await client.get("/users/ada/files/notes/a.txt").text == "ada asks for notes/a.txt")
    }

    @Test func blockingHandlers() async throws {
        let client = TestClient(reportApp())
        #expect(try await client.get("/report/?steps=2").text == "row 1\nrow 2")
        #expect(try await client.post("/lines/", body: ByteBuffer(string: "a\nb\nc")).text == "3 lines")
        let began = ContinuousClock.now
        let sent = try await client.request(.get, "/report/?steps=1000", disconnectAfter: .milliseconds(50))
        #expect(sent.isEmpty)
        #expect(began.duration(to: .now) < .seconds(5))
    }

    @Test func errorsAsResponses() async throws {
        let client = TestClient(shopApp())
        let nosniff = HTTPField.Name("X-Content-Type-Options")!
        let ok = try await client.get("/items/7")
        #expect(ok.text == "item 7")
        #expect(ok.headers[nosniff] == "nosniff")
        let missing = try await client.get("/items/100")
        #expect(missing.status == .notFound)
        #expect(missing.text == "Error 404: There is no item 100.")
        #expect(missing.headers[nosniff] == "nosniff")
        let broken = try await client.get("/items/13")
        #expect(broken.status == .internalServerError)
        #expect(broken.text == "Error 500: Internal Server Error")
        #expect(broken.headers[nosniff] == "nosniff")
        let wrongMethod = try await client.post("/items/7")
        #expect(wrongMethod.status == .methodNotAllowed)
        #expect(wrongMethod.headers[.allow] != nil)
        #expect(try await client.get("/nowhere").text == "Error 404: Not Found")
    }

    @Test func groupsAndStorage() async throws {
        let client = TestClient(clubApp())
        #expect(try await client.get("/").text == "welcome")
        let refused = try await client.get("/members/me")
        #expect(refused.status == .unauthorized)
        #expect(refused.headers[.wwwAuthenticate] == "Bearer")
        let signedIn: HTTPFields = [.authorization: "Bearer ada"]
        #expect(try await client.get("/members/me", headers: signedIn).text == "hello ada")
        #expect(try await client.get("/members/events/2024", headers: signedIn).text == "events of 2024")
        #expect(try await client.get("/members/events/2024").status == .unauthorized)
    }

    @Test func routeDeadlines() async throws {
        let client = TestClient(searchApp())
        #expect(try await client.get("/search/?ms=10").text == "results")
        #expect(try await client.get("/search/?ms=10000").status == .gatewayTimeout)
        #expect(try await client.get("/export/").text == "export")
    }

    @Test func jsonAndValidation() async throws {
        let client = TestClient(productsApp())
        let created = try await client.post("/products/", body: ByteBuffer(string: #"{"name": "pear", "stock": 3}"#))
        #expect(created.status == .created)
        #expect(created.headers[.contentType] == "application/json")
        let product = try JSONDecoder().decode(Product.self, from: Data(created.body.readableBytesView))
        #expect(product.name == "pear" && product.stock == 3)
        let negative = try await client.post("/products/", body: ByteBuffer(string: #"{"name": "pear", "stock": -1}"#))
        #expect(negative.status == .unprocessableContent)
        #expect(negative.text == "Field 'stock' must not be negative.")
        let incomplete = try await client.post("/products/", body: ByteBuffer(string: #"{"name": "pear"}"#))
        #expect(incomplete.status == .badRequest)
        #expect(incomplete.text == "Field 'stock' is missing.")
    }

    @Test func streamsAndEvents() async throws {
        let client = TestClient(feedApp())
        #expect(try await client.get("/countdown/?from=3").text == "3\n2\n1\n")
        #expect(try await client.get("/lines/").text == "one\ntwo\n")
        let prices = try await client.get("/prices/")
        #expect(prices.headers[.contentType] == "text/event-stream")
        #expect(
            prices.text
                == "event: price\nid: 0\ndata: {\"price\": 101}\n\nevent: price\nid: 1\ndata: {\"price\": 99}\n\n")
    }

    @Test func webSockets() async throws {
        let client = TestClient(chatApp())
        try await client.webSocket("/echo/") { socket in
            try await socket.send(.text("hello"))
            #expect(try await socket.receive() == .text("hello"))
        }
        try await client.webSocket("/clock/?ms=1", subprotocols: ["clock.v1"]) { socket in
            #expect(socket.subprotocol == "clock.v1")
            let first = try await socket.receive()
            #expect(first == .text("tick 0"))
        }
        await #expect(throws: TestClientError.self) { try await client.webSocket("/private/room/") { _ in } }
        try await client.webSocket("/private/room/?token=secret") { socket in
            let welcome = try await socket.receive()
            #expect(welcome == .text("welcome"))
            await #expect(throws: TestClientError.webSocketClosed(code: 4000, reason: "room closed")) {
                try await socket.receive()
            }
        }
    }

    @Test func filesAndStaticFiles() async throws {
        let directory = try TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory.path + "/site", withIntermediateDirectories: true)
        _ = try directory.write("0123456789", to: "q1.csv")
        _ = try directory.write("body { }", to: "site/style.css")
        let client = TestClient(downloadsApp(reports: directory.path, site: directory.path + "/site"))
        let whole = try await client.get("/reports/q1")
        #expect(whole.text == "0123456789")
        #expect(whole.headers[.contentDisposition] == #"attachment; filename="q1.csv""#)
        let part = try await client.get("/reports/q1", headers: [.range: "bytes=2-4"])
        #expect(part.status == .partialContent)
        #expect(part.text == "234")
        #expect(part.headers[.contentRange] == "bytes 2-4/10")
        let cached = try await client.get("/reports/q1", headers: [.ifNoneMatch: whole.headers[.eTag] ?? ""])
        #expect(cached.status == .notModified)
        #expect(try await client.get("/reports/q2").status == .notFound)
        let style = try await client.get("/static/style.css")
        #expect(style.text == "body { }")
        #expect(style.headers[.cacheControl] == "public, max-age=3600")
        #expect(try await client.get("/static/missing.css").status == .notFound)
    }

    @Test func formsAndCookies() async throws {
        let client = TestClient(profileApp(configuration: WebApplication.Configuration(), secret: "s3cret"))
        let boundary = "XyZ"
        let body =
            "--\(boundary)\r\nContent-Disposition: form-data; name=\"caption\"\r\n\r\nme\r\n"
            + "--\(boundary)\r\nContent-Disposition: form-data; name=\"avatar\"; filename=\"a.png\"\r\n"
            + "Content-Type: image/png\r\n\r\n0123456789\r\n--\(boundary)--\r\n"
        let upload = try await client.request(
            .post, "/avatar", headers: [.contentType: "multipart/form-data; boundary=\(boundary)"],
            body: ByteBuffer(string: body))
        #expect(upload.text == "me: 10 bytes")
        let login = try await client.post("/login")
        let cookie = try #require(login.headers[.setCookie])
        #expect(cookie.hasPrefix("user=42."))
        #expect(cookie.contains("HttpOnly"))
        let signed = String(cookie.prefix { $0 != ";" })
        #expect(try await client.get("/me", headers: [.cookie: signed]).text == "42")
        #expect(try await client.get("/me", headers: [.cookie: "user=42"]).text == "nobody")
    }

    @Test func compression() async throws {
        let client = TestClient(compressedApp())
        let report = try await client.get("/report", headers: [.acceptEncoding: "gzip"])
        #expect(report.headers[.contentEncoding] == "gzip")
        #expect(report.body.readableBytes < 200 * 31)
        let plain = try await client.get("/report")
        #expect(plain.headers[.contentEncoding] == nil)
        #expect(plain.body.readableBytes == 200 * 31)
        #expect(try await client.get("/tiny", headers: [.acceptEncoding: "gzip"]).headers[.contentEncoding] == nil)
    }

    @Test func crossOriginRequests() async throws {
        let client = TestClient(publicAPIApp())
        let preflight = try await client.request(
            .options, "/api/fruits",
            headers: [.origin: "https://app.example.com", .accessControlRequestMethod: "PUT"])
        #expect(preflight.status == .noContent)
        #expect(preflight.headers[.accessControlAllowOrigin] == "https://app.example.com")
        #expect(preflight.headers[.accessControlAllowCredentials] == "true")
        #expect(preflight.headers[.accessControlMaxAge] == "3600")
        let allowed = try await client.get("/api/fruits", headers: [.origin: "https://app.example.com"])
        #expect(allowed.headers[.accessControlAllowOrigin] == "https://app.example.com")
        #expect(allowed.headers[.accessControlExposeHeaders] == "ETag")
        let other = try await client.get("/api/fruits", headers: [.origin: "https://elsewhere.example"])
        #expect(other.status == .ok)
        #expect(other.headers[.accessControlAllowOrigin] == nil)
    }

    @Test func hooksAndSummaries() async throws {
        let lines = Box<[String]>([])
        let client = TestClient(observedApp { line in lines.mutate { $0.append(line) } })
        _ = try await client.get("/hello/")
        #expect(lines.value == ["started /hello/", "finished /hello/ 200 completed"])
        lines.value = []
        _ = try await client.request(.get, "/slow/", disconnectAfter: .milliseconds(50))
        #expect(lines.value == ["started /slow/", "finished /slow/ - cancelled: client_closed"])
    }

    @Test func fromDjangoToTether() async throws {
        let directory = try TemporaryDirectory()
        _ = try directory.write("a,b\n", to: "june.csv")
        let client = TestClient(djangoStyleApp(exports: directory.path))
        #expect(try await client.get("/articles/hello-world/").text == "<h1>hello-world</h1>")
        #expect(try await client.get("/export/").text == "row 1\nrow 2\nrow 3\n")
        let file = try await client.get("/exports/june")
        #expect(file.text == "a,b\n")
        #expect(file.headers[.contentDisposition] == #"attachment; filename="june.csv""#)
        let form: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]
        let saved = try await client.post("/legacy/", headers: form, body: ByteBuffer(string: "title=Hello+there"))
        #expect(saved.text == "saved Hello there")
    }
}
