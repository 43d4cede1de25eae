import NIOCore
import SystemPackage
import TetherMultipart
import TetherTesting
import TetherWeb

/// A `multipart/form-data` body for tests, written part by part as a browser writes it.
struct MultipartBody {
    static let boundary = "----TetherBoundary7MA4YWxkTrZu0gW"
    /// The request's Content-Type.
    static let headers: HTTPFields = [.contentType: "multipart/form-data; boundary=\(boundary)"]

    var bytes = ByteBuffer()

    /// Adds a field.
    mutating func field(_ name: String, _ value: String) {
        self.part(headers: "Content-Disposition: form-data; name=\"\(name)\"", ByteBuffer(string: value))
    }

    /// Adds a file part.
    mutating func file(
        _ name: String, filename: String, contentType: String = "application/octet-stream", _ content: ByteBuffer
    ) {
        self.part(
            headers: "Content-Disposition: form-data; name=\"\(name)\"; filename=\"\(filename)\"\r\n"
                + "Content-Type: \(contentType)",
            content)
    }

    /// Adds a part with `headers`, lines without their last line end.
    mutating func part(headers: String, _ content: ByteBuffer) {
        self.bytes.writeString("--\(Self.boundary)\r\n\(headers)\r\n\r\n")
        self.bytes.writeImmutableBuffer(content)
        self.bytes.writeString("\r\n")
    }

    /// The body with its closing boundary.
    var finished: ByteBuffer {
        var bytes = self.bytes
        bytes.writeString("--\(Self.boundary)--\r\n")
        return bytes
    }
}

/// Posts `body` to an application whose one route, `POST /`, is `handler`.
func postForm(
    _ body: ByteBuffer,
    headers: HTTPFields = MultipartBody.headers,
    configuration: WebApplication.Configuration = .init(),
    _ handler: @escaping Handler
) async throws -> TestResponse {
    var router = Router()
    router.post("/", handler)
    return try await TestClient(WebApplication(router: router, configuration: configuration))
        .post("/", headers: headers, body: body)
}

/// Content whose bytes look like the boundary's start again and again: the parser must not cut it there.
func trickyContent(count: Int) -> ByteBuffer {
    let pattern = Array("\r\n--\(MultipartBody.boundary.dropLast(3))\r\r\n-\u{0}\u{FF}".utf8)
    return ByteBuffer(bytes: (0..<count).map { pattern[$0 % pattern.count] })
}
