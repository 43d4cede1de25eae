import Foundation
import HTTPTypes
import NIOCore
import TestSupport
import Testing
import TetherGateway
import TetherTesting
import TetherWeb

/// Files served by a middleware inside the application: validators, ranges, indexes, and the rest passed on.
@Suite struct FileMiddlewareTests {
    static let seen = HTTPField.Name("X-Seen")!

    /// `public/hello.txt` (10 bytes), `public/docs/index.html`, `public/empty.txt`, and `secret.txt` outside.
    static func site(_ directory: borrowing TemporaryDirectory) throws -> String {
        let root = directory.path + "/public"
        try FileManager.default.createDirectory(atPath: root + "/docs", withIntermediateDirectories: true)
        _ = try directory.write("0123456789", to: "public/hello.txt")
        _ = try directory.write("<h1>Docs</h1>", to: "public/docs/index.html")
        _ = try directory.write("", to: "public/empty.txt")
        _ = try directory.write("secret", to: "secret.txt")
        return root
    }

    /// An app with a marking middleware outside `files`, two routes, and a counting finished hook.
    static func app(
        _ files: FileMiddleware, finished: Box<Int> = Box(0), configuration: WebApplication.Configuration = .init()
    )
        -> WebApplication
    {
        var router = Router()
        router.get("/hello") { _ in .text("from the app") }
        router.get("/static/generated.txt") { _ in .text("generated") }
        let marking = InlineMiddleware { request, next in
            var response = try await next(request)
            response.headers[Self.seen] = "yes"
            return response
        }
        var app = WebApplication(router: router, middleware: [marking, files], configuration: configuration)
        app.onRequestFinished { _ in finished.mutate { $0 += 1 } }
        return app
    }

    @Test func aFileGoesThroughTheOuterMiddlewareAndHooks() async throws {
        let directory = try TemporaryDirectory()
        let finished = Box(0)
        let client = TestClient(
            Self.app(FileMiddleware(directory: try Self.site(directory), prefix: "/static"), finished: finished))
        let response = try await client.get("/static/hello.txt")
        #expect(response.status == .ok)
        #expect(response.text == "0123456789")
        #expect(response.headers[.contentType] == "text/plain; charset=utf-8")
        #expect(response.headers[.contentLength] == "10")
        #expect(response.headers[.acceptRanges] == "bytes")
        #expect(response.headers[.lastModified] != nil)
        #expect(response.headers[.eTag]?.hasPrefix("\"") == true)
        #expect(response.headers[.contentDisposition] == nil)
        #expect(response.headers[.cacheControl] == nil)
        #expect(response.headers[Self.seen] == "yes")
        #expect(finished.value == 1)
        let head = try await client.head("/static/hello.txt")
        #expect(head.headers[.contentLength] == "10")
        #expect(head.body.readableBytes == 0)
    }

    @Test func whatIsNoFileGoesToTheRestOfTheApplication() async throws {
        let directory = try TemporaryDirectory()
        let client = TestClient(Self.app(FileMiddleware(directory: try Self.site(directory), prefix: "/static")))
        #expect(try await client.get("/static/generated.txt").text == "generated")
        #expect(try await client.get("/hello").text == "from the app")
        #expect(try await client.get("/static/missing.txt").status == .notFound)
        // Only GET and HEAD read files: a POST is the router's to answer, here 404 as it has no such route.
        #expect(try await client.post("/static/hello.txt").status == .notFound)
        // A prefix is a whole segment.
        #expect(try await client.get("/statichello.txt").status == .notFound)
    }

    @Test func aDirectoryIsServedByItsIndexOnceItsPathEndsWithASlash() async throws {
        let directory = try TemporaryDirectory()
        let root = try Self.site(directory)
        let client = TestClient(Self.app(FileMiddleware(directory: root, prefix: "/static")))
        let index = try await client.get("/static/docs/")
        #expect(index.status == .ok)
        #expect(index.text == "<h1>Docs</h1>")
        #expect(index.headers[.contentType] == "text/html; charset=utf-8")
        let redirect = try await client.get("/static/docs?lang=en")
        #expect(redirect.status == .movedPermanently)
        #expect(redirect.headers[.location] == "/static/docs/?lang=en")
        // The root has no index: nothing to serve.
        #expect(try await client.get("/static/").status == .notFound)
        let noIndex = TestClient(Self.app(FileMiddleware(directory: root, prefix: "/static", index: nil)))
        #expect(try await noIndex.get("/static/docs/").status == .notFound)
    }

    @Test func aRedirectNeverLeavesTheHost() async throws {
        let directory = try TemporaryDirectory()
        let root = try Self.site(directory)
        try FileManager.default.createDirectory(atPath: root + "/evil.example", withIntermediateDirectories: true)
        _ = try directory.write("x", to: "public/evil.example/index.html")
        let redirect = try await TestClient(Self.app(FileMiddleware(directory: root))).get("//evil.example")
        #expect(redirect.status == .movedPermanently)
        #expect(redirect.headers[.location] == "/evil.example/")
    }

    @Test(arguments: [
        "/static/../secret.txt", "/static/%2e%2e/secret.txt", "/static/%2E%2E/secret.txt",
        "/static/docs/../../secret.txt",
        "/static/..%2Fsecret.txt", "/static/./hello.txt", "/static/link/secret.txt", "/static/escape",
    ])
    func aPathThatLeavesTheDirectoryIs404(target: String) async throws {
        let directory = try TemporaryDirectory()
        let root = try Self.site(directory)
        try FileManager.default.createSymbolicLink(atPath: root + "/link", withDestinationPath: directory.path)
        try FileManager.default.createSymbolicLink(
            atPath: root + "/escape", withDestinationPath: directory.path + "/secret.txt")
        var router = Router()
        // A route that would answer if the middleware passed the request on.
        router.get("/static/*rest") { _ in .text("passed on") }
        let client = TestClient(
            WebApplication(router: router, middleware: [FileMiddleware(directory: root, prefix: "/static")]))
        let response = try await client.get(target)
        #expect(response.status == .notFound)
        #expect(response.text == "Not Found")
    }

    @Test func aSymbolicLinkInsideTheDirectoryIsFollowed() async throws {
        let directory = try TemporaryDirectory()
        let root = try Self.site(directory)
        try FileManager.default.createSymbolicLink(
            atPath: root + "/latest.txt", withDestinationPath: root + "/hello.txt")
        let response = try await TestClient(Self.app(FileMiddleware(directory: root, prefix: "/static"))).get(
            "/static/latest.txt")
        #expect(response.text == "0123456789")
    }

    @Test(arguments: [
        ("a.css", "text/css; charset=utf-8"), ("a.JSON", "application/json"), ("a.svg", "image/svg+xml"),
        ("a.woff2", "font/woff2"), ("a.webmanifest", "application/manifest+json"),
        ("a.unknown", "application/octet-stream"),
        ("Makefile", "application/octet-stream"),
    ])
    func contentTypesFollowTheExtension(name: String, contentType: String) async throws {
        let directory = try TemporaryDirectory()
        _ = try directory.write("x", to: name)
        let response = try await TestClient(Self.app(FileMiddleware(directory: directory.path, prefix: "/static")))
            .get("/static/" + name)
        #expect(response.headers[.contentType] == contentType)
    }

    @Test func theCacheControlOptionAndAttachments() async throws {
        let directory = try TemporaryDirectory()
        let files = FileMiddleware(
            directory: try Self.site(directory), prefix: "/static", cacheControl: "public, max-age=60",
            disposition: .attachment)
        let client = TestClient(Self.app(files))
        let response = try await client.get("/static/hello.txt")
        #expect(response.headers[.cacheControl] == "public, max-age=60")
        #expect(response.headers[.contentDisposition] == "attachment; filename=\"hello.txt\"")
        let etag = try #require(response.headers[.eTag])
        #expect(
            try await client.get("/static/hello.txt", headers: [.ifNoneMatch: etag]).headers[.cacheControl]
                == "public, max-age=60")
        #expect(
            try await client.get("/static/hello.txt", headers: [.range: "bytes=0-1"]).headers[.cacheControl]
                == "public, max-age=60")
        let unsatisfiable = try await client.get("/static/hello.txt", headers: [.range: "bytes=20-"])
        #expect(unsatisfiable.status == .rangeNotSatisfiable)
        #expect(unsatisfiable.headers[.cacheControl] == nil)
    }

    @Test func theETagIsStrongAndChangesWithTheFile() async throws {
        let directory = try TemporaryDirectory()
        let root = try Self.site(directory)
        let client = TestClient(Self.app(FileMiddleware(directory: root, prefix: "/static")))
        let first = try #require(try await client.get("/static/hello.txt").headers[.eTag])
        #expect(!first.hasPrefix("W/"))
        #expect(try await client.get("/static/hello.txt").headers[.eTag] == first)
        _ = try directory.write("01234567890", to: "public/hello.txt")
        #expect(try await client.get("/static/hello.txt").headers[.eTag] != first)
    }

    /// `If-None-Match` values, with `%` for the file's tag, and whether they get 304.
    @Test(arguments: [
        ("%", true), ("W/%", true), ("*", true), ("\"other\", %", true), ("\"a,b\", %", true), ("\"other\"", false),
        ("garbage", false),
    ])
    func ifNoneMatch(field: String, notModified: Bool) async throws {
        let directory = try TemporaryDirectory()
        let client = TestClient(Self.app(FileMiddleware(directory: try Self.site(directory), prefix: "/static")))
        let first = try await client.get("/static/hello.txt")
        let etag = try #require(first.headers[.eTag])
        let modified = try #require(first.headers[.lastModified])
        // A matching If-Modified-Since must not count when If-None-Match is there.
        let response = try await client.get(
            "/static/hello.txt",
            headers: [.ifNoneMatch: field.replacingOccurrences(of: "%", with: etag), .ifModifiedSince: modified])
        #expect(response.status == (notModified ? .notModified : .ok))
        if notModified {
            #expect(response.body.readableBytes == 0)
            #expect(response.headers[.eTag] == etag)
            #expect(response.headers[.lastModified] == modified)
        } else {
            #expect(response.text == "0123456789")
        }
    }

    @Test func ifModifiedSince() async throws {
        let directory = try TemporaryDirectory()
        let client = TestClient(Self.app(FileMiddleware(directory: try Self.site(directory), prefix: "/static")))
        let modified = try #require(try await client.get("/static/hello.txt").headers[.lastModified])
        #expect(try await client.get("/static/hello.txt", headers: [.ifModifiedSince: modified]).status == .notModified)
        let older = try await client.get(
            "/static/hello.txt", headers: [.ifModifiedSince: "Sun, 06 Nov 1994 08:49:37 GMT"])
        #expect(older.status == .ok)
        #expect(try await client.get("/static/hello.txt", headers: [.ifModifiedSince: "yesterday"]).status == .ok)
    }

    /// A `Range` field on the 10-byte file: status, body, Content-Range.
    struct RangeCase: Sendable, CustomTestStringConvertible {
        var field: String
        var status: HTTPResponse.Status
        var body: String
        var contentRange: String?
        var testDescription: String { self.field }
    }

    static let rangeCases = [
        RangeCase(field: "bytes=0-3", status: .partialContent, body: "0123", contentRange: "bytes 0-3/10"),
        RangeCase(field: "bytes=7-", status: .partialContent, body: "789", contentRange: "bytes 7-9/10"),
        RangeCase(field: "bytes=-3", status: .partialContent, body: "789", contentRange: "bytes 7-9/10"),
        RangeCase(field: "bytes=5-100", status: .partialContent, body: "56789", contentRange: "bytes 5-9/10"),
        RangeCase(field: "bytes=-100", status: .partialContent, body: "0123456789", contentRange: "bytes 0-9/10"),
        RangeCase(field: "BYTES = 9-9", status: .ok, body: "0123456789", contentRange: nil),
        RangeCase(field: "Bytes=9-9", status: .partialContent, body: "9", contentRange: "bytes 9-9/10"),
        RangeCase(field: "bytes= 2-3 ,", status: .partialContent, body: "23", contentRange: "bytes 2-3/10"),
        RangeCase(
            field: "bytes=3-99999999999999999999", status: .partialContent, body: "3456789",
            contentRange: "bytes 3-9/10"),
        RangeCase(field: "bytes=10-", status: .rangeNotSatisfiable, body: "", contentRange: "bytes */10"),
        RangeCase(field: "bytes=10-20", status: .rangeNotSatisfiable, body: "", contentRange: "bytes */10"),
        RangeCase(field: "bytes=-0", status: .rangeNotSatisfiable, body: "", contentRange: "bytes */10"),
        RangeCase(
            field: "bytes=99999999999999999999-", status: .rangeNotSatisfiable, body: "", contentRange: "bytes */10"),
        RangeCase(field: "bytes=0-1,4-5", status: .ok, body: "0123456789", contentRange: nil),
        RangeCase(field: "bytes=5-2", status: .ok, body: "0123456789", contentRange: nil),
        RangeCase(field: "bytes=-", status: .ok, body: "0123456789", contentRange: nil),
        RangeCase(field: "bytes=+1-2", status: .ok, body: "0123456789", contentRange: nil),
        RangeCase(field: "items=0-3", status: .ok, body: "0123456789", contentRange: nil),
    ]

    @Test(arguments: Self.rangeCases, [true, false])
    func range(_ range: RangeCase, serverSendsFiles: Bool) async throws {
        let directory = try TemporaryDirectory()
        var configuration = WebApplication.Configuration()
        // Small chunks, so that a range read by the web layer spans several of them.
        configuration.fileChunkSize = 3
        let app = Self.app(
            FileMiddleware(directory: try Self.site(directory), prefix: "/static"), configuration: configuration)
        let response = try await TestClient(app, fileSend: serverSendsFiles).get(
            "/static/hello.txt", headers: [.range: range.field])
        #expect(response.status == range.status)
        #expect(response.text == range.body)
        #expect(response.headers[.contentRange] == range.contentRange)
        #expect(response.headers[.contentLength] == String(range.body.utf8.count))
    }

    @Test func anEmptyFileHasNoRangeToServe() async throws {
        let directory = try TemporaryDirectory()
        let client = TestClient(Self.app(FileMiddleware(directory: try Self.site(directory), prefix: "/static")))
        let whole = try await client.get("/static/empty.txt")
        #expect(whole.status == .ok)
        #expect(whole.headers[.contentLength] == "0")
        for field in ["bytes=0-", "bytes=-5"] {
            let response = try await client.get("/static/empty.txt", headers: [.range: field])
            #expect(response.status == .rangeNotSatisfiable)
            #expect(response.headers[.contentRange] == "bytes */0")
        }
    }

    @Test func headIgnoresRange() async throws {
        let directory = try TemporaryDirectory()
        let client = TestClient(Self.app(FileMiddleware(directory: try Self.site(directory), prefix: "/static")))
        let head = try await client.head("/static/hello.txt", headers: [.range: "bytes=0-3"])
        #expect(head.status == .ok)
        #expect(head.headers[.contentLength] == "10")
        #expect(head.headers[.contentRange] == nil)
    }

    /// `If-Range` values, with `%` for the file's tag and `@` for its Last-Modified, and whether the range is served.
    @Test(arguments: [
        ("%", true), ("@", true), ("\"stale\"", false), ("W/%", false), ("Sun, 06 Nov 1994 08:49:37 GMT", false),
    ])
    func ifRange(field: String, servesTheRange: Bool) async throws {
        let directory = try TemporaryDirectory()
        let client = TestClient(Self.app(FileMiddleware(directory: try Self.site(directory), prefix: "/static")))
        let first = try await client.get("/static/hello.txt")
        let etag = try #require(first.headers[.eTag])
        let modified = try #require(first.headers[.lastModified])
        let value = field.replacingOccurrences(of: "%", with: etag).replacingOccurrences(of: "@", with: modified)
        let response = try await client.get("/static/hello.txt", headers: [.range: "bytes=1-2", .ifRange: value])
        #expect(response.status == (servesTheRange ? .partialContent : .ok))
        #expect(response.text == (servesTheRange ? "12" : "0123456789"))
    }
}
