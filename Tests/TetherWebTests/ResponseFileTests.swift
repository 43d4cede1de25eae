import Foundation
import HTTPTypes
import NIOCore
import TestSupport
import Testing
import TetherGateway
import TetherTesting
import TetherWeb

/// `Response.file(at:for:)`: the middleware's ranges and validators, for a handler's own files.
@Suite struct ResponseFileTests {
    static func client(serving path: String) -> TestClient {
        var router = Router()
        router.get("/aware") { request in try await .file(at: path, for: request, filename: "report.txt") }
        router.get("/plain") { _ in try await .file(at: path) }
        router.get("/bare") { request in try await .file(at: path, for: request, disposition: nil) }
        router.get("/missing") { request in try await .file(at: path + ".missing", for: request) }
        return TestClient(WebApplication(router: router))
    }

    @Test func aRequestAwareFileAnswersRangesAndValidators() async throws {
        let directory = try TemporaryDirectory()
        let client = Self.client(serving: try directory.write("abcdefghij", to: "data.bin"))
        let whole = try await client.get("/aware")
        #expect(whole.status == .ok)
        #expect(whole.headers[.contentType] == "text/plain; charset=utf-8")
        #expect(whole.headers[.contentDisposition] == "inline; filename=\"report.txt\"")
        #expect(whole.headers[.acceptRanges] == "bytes")
        let etag = try #require(whole.headers[.eTag])
        let part = try await client.get("/aware", headers: [.range: "bytes=2-4"])
        #expect(part.status == .partialContent)
        #expect(part.text == "cde")
        #expect(part.headers[.contentRange] == "bytes 2-4/10")
        #expect(part.headers[.eTag] == etag)
        let notModified = try await client.get("/aware", headers: [.ifNoneMatch: etag])
        #expect(notModified.status == .notModified)
        #expect(notModified.body.readableBytes == 0)
        let unsatisfiable = try await client.get("/aware", headers: [.range: "bytes=10-"])
        #expect(unsatisfiable.status == .rangeNotSatisfiable)
        #expect(unsatisfiable.headers[.contentRange] == "bytes */10")
        #expect(try await client.get("/missing").status == .notFound)
    }

    @Test func aFileWithoutTheRequestIsAlwaysWholeAndDispositionCanBeLeftOut() async throws {
        let directory = try TemporaryDirectory()
        let client = Self.client(serving: try directory.write("abcdefghij", to: "data.bin"))
        let plain = try await client.get("/plain", headers: [.range: "bytes=2-4"])
        #expect(plain.status == .ok)
        #expect(plain.text == "abcdefghij")
        #expect(plain.headers[.eTag] == nil)
        #expect(plain.headers[.contentDisposition] == "inline; filename=\"data.bin\"")
        #expect(try await client.get("/bare").headers[.contentDisposition] == nil)
    }

    @Test func onlyGetAndHeadAreConditional() async throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write("abcdefghij", to: "data.bin")
        var router = Router()
        router.post("/upload") { request in try await .file(at: path, for: request) }
        let client = TestClient(WebApplication(router: router))
        let response = try await client.post("/upload", headers: [.ifNoneMatch: "*", .range: "bytes=0-0"])
        #expect(response.status == .ok)
        #expect(response.text == "abcdefghij")
    }
}
