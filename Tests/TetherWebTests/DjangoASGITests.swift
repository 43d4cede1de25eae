import Foundation
import HTTPTypes
import NIOCore
import TestSupport
import Testing
import TetherGateway
import TetherTesting
import TetherWeb

/// The behaviours of Django's ASGI handler tests (tests/asgi/tests.py), ported to Tether, and the four tests of
/// the fix for django__django-16603 (see docs/ConformanceRoutes.md).
@Suite struct DjangoASGITests {
    /// The app Django's tests use: hello, echo, headers, a slow blocking view, a file.
    static func application(
        hooks: LifecycleHooks = LifecycleHooks(), configuration: WebApplication.Configuration = .init()
    )
        -> WebApplication
    {
        var router = Router()
        router.get("/") { request in .text("Hello \(request.query["name"] ?? "World")!") }
        router.get("/meta/") { request in .text("From \(request.header(.referer) ?? "")") }
        router.post("/post/") { request in
            Response(headers: [.contentType: "text/plain"], body: ResponseBody(try await request.body.bytes()))
        }
        router.post("/untouched/") { _ in Response(status: .noContent) }
        router.get(
            "/delayed_hello/",
            blocking: { request in
                // Django's `hello_with_delay`: a synchronous view that sleeps 1 s.
                Thread.sleep(forTimeInterval: 1)
                return .text("Hello \(request.query["name"] ?? "World")!")
            })
        return WebApplication(router: router, hooks: hooks, configuration: configuration)
    }

    @Test func helloEndToEndWithExactHeaders() async throws {
        let communicator = ApplicationCommunicator(Self.application(), scope: httpScope(.get, "/"))
        communicator.send(.body(ByteBuffer(), more: false))
        let start = try await communicator.receiveOutput()
        #expect(
            start == .start(status: .ok, headers: [.contentType: "text/plain; charset=utf-8", .contentLength: "12"]))
        #expect(try await communicator.receiveOutput() == .body(ByteBuffer(string: "Hello World!"), more: false))
        try await communicator.wait()
    }

    @Test func fileResponseHeaders() async throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write("print('hello')\n", to: "urls.py")
        var router = Router()
        router.get("/file/") { _ in try await .file(at: path, contentType: "text/x-python") }
        let client = TestClient(WebApplication(router: router))
        let response = try await client.get("/file/")
        let modified = try FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as! Date
        #expect(response.status == .ok)
        #expect(
            response.headers == [
                .contentType: "text/x-python",
                .contentLength: "15",
                .lastModified: httpDate(modified),
                .contentDisposition: "inline; filename=\"urls.py\"",
            ])
        #expect(response.text == "print('hello')\n")
    }

    @Test func staticFileResponseHeaders() async throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write("body { color: red; }\n", to: "site.css")
        let app = StaticFiles(directory: directory.path, prefix: "/static/", wrapping: Self.application())
        let response = try await TestClient(app).get("/static/site.css")
        let modified = try FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as! Date
        #expect(response.status == .ok)
        #expect(response.headers[.contentType] == "text/css; charset=utf-8")
        #expect(response.headers[.contentLength] == "21")
        #expect(response.headers[.lastModified] == httpDate(modified))
        #expect(response.text == "body { color: red; }\n")
    }

    @Test func repeatedHeadersAreJoinedWithCommas() async throws {
        var headers = HTTPFields()
        headers.append(HTTPField(name: .referer, value: "Scotland"))
        headers.append(HTTPField(name: .referer, value: "Wales"))
        let response = try await TestClient(Self.application()).get("/meta/", headers: headers)
        #expect(response.text == "From Scotland,Wales")
    }

    @Test func postBodyIsEchoed() async throws {
        let communicator = ApplicationCommunicator(
            Self.application(), scope: httpScope(.post, "/post/", headers: [.contentLength: "12"]))
        communicator.send(.body(ByteBuffer(string: "Echo!"), more: true))
        communicator.send(.body(ByteBuffer(string: " Echo 2!"), more: false))
        let events = try await receiveResponse(from: communicator)
        #expect(events.last == .body(ByteBuffer(string: "Echo! Echo 2!"), more: false))
        try await communicator.wait()
    }

    @Test func untouchedRequestBodyIsStillReleased() async throws {
        let directory = try TemporaryDirectory()
        let app = Self.application(configuration: .spooling(to: directory.path, threshold: 8))
        let response = try await TestClient(app).post("/untouched/", body: .repeating(0x61, count: 1000))
        #expect(response.status == .noContent)
        #expect(response.headers[.contentLength] == nil)
        #expect(response.body.readableBytes == 0)
        #expect(directory.contents == [])
    }

    @Test(arguments: [Array("name=Andrew".utf8)])
    func queryStringAsBytes(query: [UInt8]) async throws {
        let scope = HTTPScope(method: .get, path: "/", rawPath: "/", queryString: query)
        let communicator = ApplicationCommunicator(Self.application(), scope: .http(scope))
        communicator.send(.body(ByteBuffer(), more: false))
        let events = try await receiveResponse(from: communicator)
        #expect(events.last == .body(ByteBuffer(string: "Hello Andrew!"), more: false))
    }

    @Test func queryStringAsText() async throws {
        let response = try await TestClient(Self.application()).get("/?name=Andrew")
        #expect(response.text == "Hello Andrew!")
    }

    @Test func disconnectBeforeTheBodyGivesNoOutput() async throws {
        let communicator = ApplicationCommunicator(Self.application(), scope: httpScope(.get, "/"))
        communicator.send(.disconnect)
        #expect(try await communicator.receiveNothing(timeout: .milliseconds(200)))
        try await communicator.wait()
    }

    @Test func wrongScopeTypeIsAClearError() async throws {
        let communicator = ApplicationCommunicator(Self.application(), scope: .lifespan(LifespanScope()))
        await #expect {
            try await communicator.receiveOutput()
        } throws: { error in
            "\(error)" == "TetherWeb can only handle HTTP scopes, not lifespan."
        }
    }

    @Test func nonUTF8QueryStringIs400WithEmptyBody() async throws {
        let scope = HTTPScope(method: .get, path: "/", rawPath: "/", queryString: [0xFF])
        let communicator = ApplicationCommunicator(Self.application(), scope: .http(scope))
        communicator.send(.body(ByteBuffer(), more: false))
        let events = try await receiveResponse(from: communicator)
        #expect(
            events == [.start(status: .badRequest, headers: [.contentLength: "0"]), .body(ByteBuffer(), more: false)])
        try await communicator.wait()
    }

    @Test func startAndFinishHooksRunOnceInOrder() async throws {
        let log = Box<[String]>([])
        var hooks = LifecycleHooks()
        hooks.requestStarted.append { scope in log.mutate { $0.append("started \(scope.path)") } }
        hooks.requestStarted.append { _ in log.mutate { $0.append("started 2") } }
        hooks.requestFinished.append { summary in log.mutate { $0.append("finished \(summary.scope.path)") } }
        var router = Router()
        router.get("/") { _ in
            log.mutate { $0.append("handler") }
            var response = Response.text("hi")
            response.onClose { log.mutate { $0.append("closed") } }
            return response
        }
        let response = try await TestClient(WebApplication(router: router, hooks: hooks)).get("/")
        #expect(response.text == "hi")
        #expect(log.value == ["started /", "started 2", "handler", "closed", "finished /"])
    }

    @Test func blockingHandlersRunConcurrentlyOnDifferentThreads() async throws {
        // Each handler waits at a barrier that only opens once both are inside: run one after the other,
        // the first would give up waiting and the test would see "alone".
        let barrier = NSCondition()
        let arrived = Box(0)
        let threads = Box<Set<String>>([])
        var router = Router()
        router.get(
            "/wait/",
            blocking: { _ in
                threads.mutate { $0.insert("\(pthread_self())") }
                barrier.lock()
                defer { barrier.unlock() }
                arrived.mutate { $0 += 1 }
                barrier.broadcast()
                let deadline = Date().addingTimeInterval(10)
                while arrived.value < 2 {
                    if !barrier.wait(until: deadline) { return .text("alone") }
                }
                return .text("together")
            })
        let client = TestClient(WebApplication(router: router))
        async let first = client.get("/wait/")
        async let second = client.get("/wait/")
        let (a, b) = try await (first, second)
        #expect(a.text == "together")
        #expect(b.text == "together")
        #expect(threads.value.count == 2)
    }

    // MARK: The fix for django__django-16603

    @Test func disconnectAfterTheBodyGivesNoOutput() async throws {
        let communicator = ApplicationCommunicator(Self.application(), scope: httpScope(.post, "/"))
        communicator.send(.body(ByteBuffer(string: "some body"), more: false))
        communicator.send(.disconnect)
        #expect(try await communicator.receiveNothing(timeout: .milliseconds(200)))
        try await communicator.wait()
    }

    @Test func unexpectedEventAfterTheBodyIsAProtocolError() async throws {
        let communicator = ApplicationCommunicator(Self.application(), scope: httpScope(.get, "/"))
        communicator.send(.body(ByteBuffer(), more: false))
        communicator.send(.startup)
        await #expect(throws: ProtocolError("Invalid message after request body: lifespan.startup")) {
            try await communicator.wait(timeout: .seconds(10))
        }
    }

    @Test func disconnectDuringABlockingHandlerGivesNoOutput() async throws {
        let communicator = ApplicationCommunicator(Self.application(), scope: httpScope(.get, "/delayed_hello/"))
        communicator.send(.body(ByteBuffer(string: "some body"), more: false))
        communicator.send(.disconnect)
        #expect(try await communicator.receiveNothing(timeout: .milliseconds(1500)))
        try await communicator.wait(timeout: .seconds(10))
    }

    @Test func asyncHandlerCompletesWithoutDisconnectAndIsCancelledByOne() async throws {
        let cancelled = Box(false)
        // Each request gets its own latch and length of work: the second must wait for its own handler to start.
        func app(started: Latch, working duration: Duration) -> WebApplication {
            var router = Router()
            router.get("/cancel/") { _ in
                started.open()
                do {
                    try await Task.sleep(for: duration)
                    return .text("Hello World!")
                } catch {
                    cancelled.value = true
                    throw error
                }
            }
            return WebApplication(router: router)
        }

        // Without a disconnect the request completes and the handler is not cancelled.
        let complete = ApplicationCommunicator(
            app(started: Latch(), working: .milliseconds(200)), scope: httpScope(.get, "/cancel/"))
        complete.send(.body(ByteBuffer(), more: false))
        let events = try await receiveResponse(from: complete)
        #expect(
            events.first
                == .start(status: .ok, headers: [.contentType: "text/plain; charset=utf-8", .contentLength: "12"]))
        #expect(events.last == .body(ByteBuffer(string: "Hello World!"), more: false))
        try await complete.wait()
        #expect(cancelled.value == false)

        // A disconnect while the handler sleeps cancels it, and nothing is sent.
        let started = Latch()
        // A minute of work: only the disconnect can end it before the wait below gives up.
        let abandoned = ApplicationCommunicator(
            app(started: started, working: .seconds(60)), scope: httpScope(.get, "/cancel/"))
        abandoned.send(.body(ByteBuffer(), more: false))
        #expect(await started.wait())
        abandoned.send(.disconnect)
        #expect(try await abandoned.receiveNothing(timeout: .milliseconds(300)))
        try await abandoned.wait(timeout: .seconds(10))
        #expect(cancelled.value == true)
    }
}

/// `date` as an HTTP date, the way Foundation formats it, to check Tether's own formatting against.
func httpDate(_ date: Date) -> String {
    let formatter = DateFormatter()
    formatter.locale = Locale(identifier: "en_US_POSIX")
    formatter.timeZone = TimeZone(identifier: "GMT")
    formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
    return formatter.string(from: date)
}
