import HTTPTypes
import NIOCore
import TestSupport
import Testing
import TetherTesting
import TetherWeb

/// TestClient's calls: one per method, JSON and text bodies, header fields on every call.
@Suite struct TestClientHelperTests {
    struct Item: Codable, Equatable {
        var name: String
        var count: Int
    }

    /// Answers every method at /echo with `METHOD content-type x-test body`.
    static let echo: WebApplication = {
        var router = Router()
        for method in [HTTPRequest.Method.get, .post, .put, .patch, .delete] {
            router.on(method, "/echo") { request in
                let body = String(buffer: try await request.body.bytes())
                let fields = [request.header(.contentType), request.header(HTTPField.Name("X-Test")!)]
                return .text(([method.rawValue] + fields.map { $0 ?? "-" } + [body]).joined(separator: " "))
            }
        }
        router.post("/items") { request in
            let item = try await request.json(Item.self)
            return try .json(Item(name: item.name.uppercased(), count: item.count + 1), status: .created)
        }
        return WebApplication(router: router)
    }()

    static let test = HTTPField.Name("X-Test")!

    @Test func jsonGoesOutAndComesBack() async throws {
        let response = try await TestClient(Self.echo).post("/items", json: Item(name: "pen", count: 1))
        #expect(response.status == .created)
        #expect(try response.json(as: Item.self) == Item(name: "PEN", count: 2))
    }

    @Test func jsonKeepsAGivenContentType() async throws {
        let response = try await TestClient(Self.echo).put(
            "/echo", json: ["a": 1], headers: [.contentType: "application/merge-patch+json", Self.test: "t"])
        #expect(response.text == #"PUT application/merge-patch+json t {"a":1}"#)
    }

    @Test func everyMethodTakesHeaderFieldsAndTextBodies() async throws {
        let client = TestClient(Self.echo)
        let headers: HTTPFields = [Self.test: "yes", .contentType: "text/plain"]
        #expect(try await client.get("/echo", headers: headers).text == "GET text/plain yes ")
        #expect(try await client.post("/echo", headers: headers, body: "posted").text == "POST text/plain yes posted")
        #expect(try await client.put("/echo", headers: headers, body: "put").text == "PUT text/plain yes put")
        #expect(
            try await client.patch("/echo", headers: headers, body: "patched").text == "PATCH text/plain yes patched")
        #expect(try await client.patch("/echo", json: 3).text == "PATCH application/json - 3")
        #expect(try await client.delete("/echo", headers: headers).text == "DELETE text/plain yes ")
        let bytes = try await client.post("/echo", body: ByteBuffer(string: "bytes"))
        #expect(bytes.text == "POST - - bytes")
    }

    @Test func withTestClientRunsInProcess() async throws {
        let text = try await withTestClient(Self.echo, mode: .inProcess) { client in
            try await client.get("/echo").text
        }
        #expect(text == "GET - - ")
    }
}
