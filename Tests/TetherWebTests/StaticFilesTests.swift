import Foundation
import HTTPTypes
import NIOCore
import TestSupport
import Testing
import TetherGateway
import TetherTesting
import TetherWeb

/// A directory served under a prefix, and nothing outside it.
@Suite struct StaticFilesTests {
    static let fallback: WebApplication = {
        var router = Router()
        router.get("/hello") { _ in .text("from the app") }
        router.post("/static/upload") { _ in .text("never reached") }
        return WebApplication(router: router)
    }()

    @Test func servesFilesWithHeadersAndHead() async throws {
        let directory = try TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory.path + "/css", withIntermediateDirectories: true)
        _ = try directory.write("a { }", to: "css/site.css")
        let client = TestClient(StaticFiles(directory: directory.path, prefix: "/static", wrapping: Self.fallback))
        let response = try await client.get("/static/css/site.css")
        #expect(response.status == .ok)
        #expect(response.headers[.contentType] == "text/css; charset=utf-8")
        #expect(response.headers[.contentLength] == "5")
        #expect(response.headers[.lastModified] != nil)
        #expect(response.text == "a { }")
        let head = try await client.head("/static/css/site.css")
        #expect(head.headers[.contentLength] == "5")
        #expect(head.body.readableBytes == 0)
    }

    @Test func ifModifiedSinceGets304() async throws {
        let directory = try TemporaryDirectory()
        _ = try directory.write("x", to: "a.txt")
        let client = TestClient(StaticFiles(directory: directory.path, prefix: "/static", wrapping: Self.fallback))
        let first = try await client.get("/static/a.txt")
        let modified = try #require(first.headers[.lastModified])
        let again = try await client.get("/static/a.txt", headers: [.ifModifiedSince: modified])
        #expect(again.status == .notModified)
        #expect(again.body.readableBytes == 0)
        #expect(again.headers[.lastModified] == modified)
        let older = try await client.get("/static/a.txt", headers: [.ifModifiedSince: "Sun, 06 Nov 1994 08:49:37 GMT"])
        #expect(older.status == .ok)
        let garbage = try await client.get("/static/a.txt", headers: [.ifModifiedSince: "yesterday"])
        #expect(garbage.status == .ok)
    }

    @Test(arguments: [
        "/static/../secret.txt", "/static/%2e%2e/secret.txt", "/static/css/../../secret.txt", "/static/link/secret.txt",
        "/static/escape", "/static/missing.txt", "/static/css", "/static/..%2Fsecret.txt",
    ])
    func refusesWhatIsNotAFileInsideTheDirectory(target: String) async throws {
        let outside = try TemporaryDirectory()
        _ = try outside.write("secret", to: "secret.txt")
        let directory = try TemporaryDirectory()
        let served = directory.path + "/public"
        try FileManager.default.createDirectory(atPath: served + "/css", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: served + "/link", withDestinationPath: outside.path)
        try FileManager.default.createSymbolicLink(
            atPath: served + "/escape", withDestinationPath: outside.path + "/secret.txt")
        _ = try directory.write("secret", to: "secret.txt")
        let client = TestClient(StaticFiles(directory: served, prefix: "/static", wrapping: Self.fallback))
        let response = try await client.get(target)
        #expect(response.status == .notFound)
        #expect(!response.text.contains("secret"))
    }

    @Test func itAnswersAsFileMiddlewareDoes() async throws {
        let directory = try TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory.path + "/docs", withIntermediateDirectories: true)
        _ = try directory.write("0123456789", to: "docs/index.html")
        let client = TestClient(StaticFiles(directory: directory.path, prefix: "/static", wrapping: Self.fallback))
        let part = try await client.get("/static/docs/", headers: [.range: "bytes=-4"])
        #expect(part.status == .partialContent)
        #expect(part.text == "6789")
        #expect(part.headers[.contentDisposition] == nil)
        #expect(try await client.get("/static/docs").headers[.location] == "/static/docs/")
    }

    @Test func everythingElseGoesToTheWrappedApplication() async throws {
        let directory = try TemporaryDirectory()
        let client = TestClient(StaticFiles(directory: directory.path, prefix: "/static/", wrapping: Self.fallback))
        #expect(try await client.get("/hello").text == "from the app")
        #expect(try await client.get("/staticky").status == .notFound)
        let post = try await client.post("/static/upload")
        #expect(post.status == .methodNotAllowed)
        #expect(post.headers[.allow] == "GET, HEAD")
    }
}

/// The body is read into memory, then a file, and within limits.
@Suite struct SpooledBodyTests {
    @Test func smallBodiesStayInMemoryLargeOnesGoToAFileThatIsRemoved() async throws {
        let directory = try TemporaryDirectory()
        let files = Box<[String?]>([])
        var router = Router()
        router.post("/") { request in
            files.mutate { $0.append(request.body.temporaryFile?.string) }
            let bytes = try await request.body.bytes()
            return .text("\(bytes.readableBytes) \(request.body.count)")
        }
        let client = TestClient(
            WebApplication(router: router, configuration: .spooling(to: directory.path, threshold: 100)))
        #expect(try await client.post("/", body: .repeating(1, count: 100)).text == "100 100")
        #expect(try await client.post("/", body: .repeating(1, count: 101)).text == "101 101")
        #expect(files.value.count == 2)
        #expect(files.value[0] == nil)
        #expect(files.value[1]?.hasPrefix(directory.path + "/tether-body-") == true)
        #expect(directory.contents == [])
    }

    @Test func aBodyPastOneWriteBatchButUnderTheThresholdStaysInMemory() async throws {
        let directory = try TemporaryDirectory()
        var configuration = WebApplication.Configuration.spooling(to: directory.path, threshold: 1 << 20)
        configuration.writeBatchSize = 64 * 1024
        let file = Box<String?>("unset")
        var router = Router()
        router.post("/") { request in
            file.value = request.body.temporaryFile?.string
            return .text("\(request.body.count)")
        }
        let client = TestClient(WebApplication(router: router, configuration: configuration))
        #expect(try await client.post("/", body: .repeating(1, count: 600 * 1024)).text == "614400")
        #expect(file.value == nil)
    }

    @Test func aDeclaredLengthPastTheThresholdGoesToAFileFromTheFirstChunk() async throws {
        let directory = try TemporaryDirectory()
        var router = Router()
        router.post("/") { request in .text("\(try await request.body.bytes().readableBytes)") }
        let communicator = ApplicationCommunicator(
            WebApplication(router: router, configuration: .spooling(to: directory.path, threshold: 1000)),
            scope: httpScope(.post, "/", headers: [.contentLength: "2000"]))
        communicator.send(.body(.repeating(1, count: 10), more: true))
        let deadline = ContinuousClock.now + .seconds(10)
        while directory.contents.isEmpty, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(directory.contents.count == 1)
        communicator.send(.body(.repeating(1, count: 1990), more: false))
        let events = try await receiveResponse(from: communicator)
        #expect(events.last == .body(ByteBuffer(string: "2000"), more: false))
        #expect(directory.contents == [])
    }

    @Test func blockingHandlersReadTheFileOnTheirThread() async throws {
        let directory = try TemporaryDirectory()
        var router = Router()
        router.post(
            "/",
            blocking: { request in
                Response(body: ResponseBody(try request.body.bytesBlocking()))
            })
        let body = ByteBuffer(bytes: (0..<50_000).map { UInt8(truncatingIfNeeded: $0 * 7) })
        let client = TestClient(
            WebApplication(router: router, configuration: .spooling(to: directory.path, threshold: 10)))
        #expect(try await client.post("/", body: body).body == body)
    }

    @Test func aDeclaredLengthOverTheLimitIs413WithoutReadingTheBody() async throws {
        var configuration = WebApplication.Configuration()
        configuration.maxBodySize = 10
        let ran = Box(false)
        var router = Router()
        router.post("/") { _ in
            ran.value = true
            return .text("")
        }
        let communicator = ApplicationCommunicator(
            WebApplication(router: router, configuration: configuration),
            scope: httpScope(.post, "/", headers: [.contentLength: "11"]))
        // No body is sent: the answer must come from the head alone.
        let events = try await receiveResponse(from: communicator)
        guard case .start(let status, _, _) = events.first else {
            Issue.record("no start")
            return
        }
        #expect(status == .contentTooLarge)
        try await communicator.wait()
        #expect(!ran.value)
    }

    @Test func aBodyThatGrowsOverTheLimitIs413() async throws {
        var configuration = WebApplication.Configuration()
        configuration.maxBodySize = 10
        var router = Router()
        router.post("/") { _ in .text("") }
        let response = try await TestClient(WebApplication(router: router, configuration: configuration))
            .request(.post, "/", headers: [.transferEncoding: "chunked"], body: .repeating(0, count: 11))
        #expect(response.status == .contentTooLarge)
        #expect(response.text == "The request body exceeds 10 bytes (limit: maxBodySize).")
    }

    @Test func readingAfterTheRequestEndedFails() async throws {
        let directory = try TemporaryDirectory()
        let kept = Box<SpooledBody?>(nil)
        var router = Router()
        router.post("/") { request in
            kept.value = request.body
            return .text("")
        }
        _ = try await TestClient(
            WebApplication(router: router, configuration: .spooling(to: directory.path, threshold: 1))
        )
        .post("/", body: .repeating(1, count: 10))
        let body = try #require(kept.value)
        await #expect(throws: BodyClosedError.self) { try await body.bytes() }
    }
}
