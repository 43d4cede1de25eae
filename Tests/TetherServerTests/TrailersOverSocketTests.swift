import NIOCore
import Testing
import TetherServer
import TetherSoak
import TetherWeb

/// Trailer fields both ways over HTTP/1.1 (a chunked body); HTTP2OverSocketTests covers them over HTTP/2.
@Suite struct TrailersOverSocketTests {
    static let app: WebApplication = {
        var router = Router()
        // Reads the body, then answers the trailers it ended with.
        router.post("/trailers/") { request in
            let body = try await request.body.bytes()
            let trailers = request.trailers.map { fields in fields.map { "\($0.name)=\($0.value)" } } ?? []
            return .text("\(body.readableBytes) bytes; trailers: \(trailers.joined(separator: ","))")
        }
        // A streamed body whose checksum follows it as a trailer.
        router.get("/checksummed/") { _ in
            var response = Response(
                body: ResponseBody { writer in
                    for part in ["ab", "cd"] { try await writer.write(ByteBuffer(string: part)) }
                })
            response.trailers = { [HTTPField.Name("x-checksum")!: "abcd"] }
            return response
        }
        router.get("/whole/") { _ in
            var response = Response.text("whole")
            response.trailers = { [HTTPField.Name("x-done")!: "yes"] }
            return response
        }
        return WebApplication(router: router)
    }()

    @Test func aChunkedRequestsTrailersReachTheHandler() async throws {
        try await withServer(Self.app) { port, _ in
            let client = try await RawClient.connect(port: port)
            try await client.send(
                "POST /trailers/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                    + "3\r\nabc\r\n0\r\nX-Checksum: 900150983cd24fb0\r\nX-Other: 1\r\n\r\n")
            let text = try await client.waitFor("trailers: ")
            _ = try await client.waitFor("X-Other=1")
            #expect(client.text.contains("3 bytes; trailers: X-Checksum=900150983cd24fb0,X-Other=1"), "\(text)")
        }
    }

    @Test func aRequestWithoutTrailersReadsNone() async throws {
        try await withServer(Self.app) { port, _ in
            let client = try await RawClient.connect(port: port)
            try await client.send("POST /trailers/ HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nab")
            try await client.waitFor("2 bytes; trailers: ")
            #expect(client.text.hasSuffix("2 bytes; trailers: "))
        }
    }

    @Test(arguments: [("/checksummed/", "abcd", "x-checksum: abcd"), ("/whole/", "whole", "x-done: yes")])
    func aResponsesTrailersFollowItsChunkedBody(path: String, body: String, trailer: String) async throws {
        try await withServer(Self.app) { port, _ in
            let client = try await RawClient.connect(port: port)
            try await client.send("GET \(path) HTTP/1.1\r\nHost: x\r\n\r\n")
            let text = try await client.waitFor("\r\n0\r\n\(trailer)\r\n\r\n")
            #expect(text.lowercased().contains("transfer-encoding: chunked"), "\(text)")
            #expect(!text.lowercased().contains("content-length"), "\(text)")
            let payload = text.components(separatedBy: "\r\n\r\n").dropFirst().joined(separator: "\r\n\r\n")
            let chunks = payload.components(separatedBy: "\r\n").enumerated().filter { $0.offset % 2 == 1 }
            #expect(chunks.map(\.element).joined().hasPrefix(body), "\(payload)")
        }
    }
}
