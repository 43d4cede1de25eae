import FoundationEssentials
import HTTPTypes
import NIOCore
import NIOFileSystem
import TetherGateway

/// A response collected by ``TestClient``: whole, or what had arrived when the client left.
public struct TestResponse: Sendable {
    /// The status.
    public var status: HTTPResponse.Status = .ok
    /// The header fields.
    public var headers: HTTPFields = [:]
    /// The body, or as much of it as arrived before the client left.
    public var body = ByteBuffer()
    /// The trailer fields, if any were sent.
    public var trailers: HTTPFields?
    /// Whether the head arrived: `false` when the client left before the application started its response.
    public var hasHead = false
    /// How the application's work ended: ``TestOutcome/completed``, or cancelled when the client left first.
    public var outcome = TestOutcome.completed

    /// An empty response, to fill in.
    public init() {}

    /// The body as UTF-8 text.
    public var text: String { String(buffer: self.body) }

    /// The body decoded from JSON as `type`.
    public func json<Value: Decodable>(as type: Value.Type, decoder: JSONDecoder = JSONDecoder()) throws -> Value {
        try decoder.decode(type, from: Data(self.body.readableBytesView))
    }

    /// Adds what `event` says of the response.
    mutating func append(_ event: OutboundEvent) async throws {
        switch event {
        case .start(let status, let headers, _):
            self.status = status
            self.headers = headers
            self.hasHead = true
        case .body(var chunk, _):
            self.body.writeBuffer(&chunk)
        case .file(let range):
            try await FileSystem.shared.withFileHandle(forReadingAt: FilePath(range.path)) { file in
                var chunk = try await file.readChunk(
                    fromAbsoluteOffset: range.offset, length: .bytes(range.count))
                self.body.writeBuffer(&chunk)
            }
        case .trailers(let trailers):
            self.trailers = trailers
        case .startupComplete, .startupFailed, .shutdownComplete, .shutdownFailed, .websocketAccept, .websocketSend,
            .websocketClose:
            break
        }
    }
}
