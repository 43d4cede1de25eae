import Testing
import TetherTesting
import TetherWeb

/// A user's test needs no other import: what it names comes with TetherWeb and TetherTesting.
@Suite struct ExportsTests {
    @Test func aTestNamesScopesEventsHTTPTypesAndBuffersWithTwoImports() async throws {
        var router = Router()
        router.post("/echo") { request in
            let body: ByteBuffer = try await request.body.bytes()
            let headers: HTTPFields = [.contentType: "text/plain"]
            return Response(status: HTTPResponse.Status.ok, headers: headers, body: ResponseBody(body))
        }
        var configuration = WebApplication.Configuration()
        configuration.logger = Logger(label: "exports")
        let app = WebApplication(router: router, configuration: configuration)

        let scope: Scope = .http(HTTPScope(method: HTTPRequest.Method.post, target: "/echo"))
        let communicator = ApplicationCommunicator(app, scope: scope)
        communicator.send(InboundEvent.body(ByteBuffer(string: "hi"), more: false))
        let start: OutboundEvent = try await communicator.receiveOutput(timeout: .seconds(10))
        #expect(start == .start(status: .ok, headers: [.contentType: "text/plain", .contentLength: "2"]))
        let body = try await communicator.receiveOutput(timeout: .seconds(10))
        #expect(body == .body(ByteBuffer(string: "hi"), more: false))
        #expect(CancellationReason.current == nil)
        #expect(try await TestClient(app).post("/echo", body: ByteBuffer(string: "again")).text == "again")
    }
}
