import Foundation
import HTTPTypes
import Logging
import NIOConcurrencyHelpers
import NIOCore
import TestSupport
import Testing
import TetherGateway
import TetherTesting
import TetherWeb

/// Bytes, streams and files, as events.
@Suite struct ResponseTests {
    static func app(_ configure: (inout Router) -> Void, logger: Logger? = nil) -> WebApplication {
        var router = Router()
        configure(&router)
        var configuration = WebApplication.Configuration()
        if let logger { configuration.logger = logger }
        return WebApplication(router: router, configuration: configuration)
    }

    @Test func streamedChunksArriveInOrder() async throws {
        let app = Self.app { router in
            router.get("/") { _ in
                .stream(
                    AsyncStream { continuation in
                        for index in 0..<3 { continuation.yield(ByteBuffer(string: "chunk \(index)\n")) }
                        continuation.finish()
                    }, headers: [.contentType: "text/plain"])
            }
        }
        let communicator = ApplicationCommunicator(app, scope: httpScope(.get, "/"))
        communicator.send(.body(ByteBuffer(), more: false))
        let events = try await receiveResponse(from: communicator)
        #expect(
            events == [
                .start(status: .ok, headers: [.contentType: "text/plain"]),
                .body(ByteBuffer(string: "chunk 0\n"), more: true),
                .body(ByteBuffer(string: "chunk 1\n"), more: true),
                .body(ByteBuffer(string: "chunk 2\n"), more: true),
                .body(ByteBuffer(), more: false),
            ])
    }

    @Test func aFileIsSentInChunksWhenTheServerCannotSendFiles() async throws {
        let directory = try TemporaryDirectory()
        let text = String(repeating: "0123456789", count: 10_000)
        let path = try directory.write(text, to: "data.bin")
        let app = Self.app { router in router.get("/") { _ in try await .file(at: path) } }
        let communicator = ApplicationCommunicator(app, scope: httpScope(.get, "/"))
        communicator.send(.body(ByteBuffer(), more: false))
        let events = try await receiveResponse(from: communicator)
        guard case .start(_, let headers, _) = events.first else {
            Issue.record("no start")
            return
        }
        #expect(headers[.contentType] == "application/octet-stream")
        #expect(headers[.contentLength] == "100000")
        var body = ByteBuffer()
        for case .body(var chunk, _) in events { body.writeBuffer(&chunk) }
        #expect(String(buffer: body) == text)
        #expect(events.count > 3)
    }

    @Test func aFileIsHandedToAServerThatSendsFiles() async throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write("hello", to: "a.txt")
        let app = Self.app { router in router.get("/") { _ in try await .file(at: path) } }
        var scope = HTTPScope(target: "/")
        scope.extensions[FileSend.self] = true
        let communicator = ApplicationCommunicator(app, scope: .http(scope))
        communicator.send(.body(ByteBuffer(), more: false))
        let events = try await receiveResponse(from: communicator)
        #expect(events.last == .file(FileRange(path: path, offset: 0, count: 5)))
    }

    @Test func attachmentsAndUnusualNames() async throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write("x", to: "report.pdf")
        let app = Self.app { router in
            router.get("/download") { _ in try await .file(at: path, disposition: .attachment) }
            router.get("/named") { _ in try await .file(at: path, filename: "résumé \"v2\".pdf") }
            router.get("/missing") { _ in try await .file(at: directory.path + "/nope") }
        }
        let client = TestClient(app)
        let download = try await client.get("/download")
        #expect(download.headers[.contentDisposition] == "attachment; filename=\"report.pdf\"")
        #expect(download.headers[.contentType] == "application/pdf")
        let named = try await client.get("/named")
        #expect(named.headers[.contentDisposition] == "inline; filename*=utf-8''r%C3%A9sum%C3%A9%20%22v2%22.pdf")
        #expect(try await client.get("/missing").status == .notFound)
    }

    @Test func headGetsNoBodyForBytesStreamsAndFiles() async throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write("hello", to: "a.txt")
        let streamed = Box(false)
        let app = Self.app { router in
            router.get("/bytes") { _ in .text("hello") }
            router.get("/file") { _ in try await .file(at: path) }
            router.get("/stream") { _ in
                Response(
                    body: ResponseBody { writer in
                        streamed.value = true
                        try await writer.write(ByteBuffer(string: "x"))
                    })
            }
        }
        let client = TestClient(app)
        for target in ["/bytes", "/file", "/stream"] {
            let response = try await client.head(target)
            #expect(response.status == .ok)
            #expect(response.body.readableBytes == 0)
        }
        #expect(try await client.head("/file").headers[.contentLength] == "5")
        #expect(try await client.head("/bytes").headers[.contentLength] == "5")
        #expect(!streamed.value)
    }

    @Test func aHandlerErrorIs500AndIsLogged() async throws {
        let records = LogRecords()
        let logger = Logger(label: "test") { _ in RecordingLogHandler(records: records) }
        struct DatabaseDown: Error {}
        let app = Self.app({ router in router.get("/") { _ in throw DatabaseDown() } }, logger: logger)
        let response = try await TestClient(app).get("/")
        #expect(response.status == .internalServerError)
        #expect(response.body.readableBytes == 0)
        #expect(records.messages.contains { $0.contains("Handler failed: DatabaseDown()") })
    }

    @Test func anErrorAfterTheResponseStartedIsThrownToTheServer() async throws {
        struct Broken: Error {}
        let app = Self.app { router in
            router.get("/") { _ in
                Response(
                    body: ResponseBody { writer in
                        try await writer.write(ByteBuffer(string: "partial"))
                        throw Broken()
                    })
            }
        }
        let communicator = ApplicationCommunicator(app, scope: httpScope(.get, "/"))
        communicator.send(.body(ByteBuffer(), more: false))
        #expect(try await communicator.receiveOutput() == .start(status: .ok, headers: [:]))
        #expect(try await communicator.receiveOutput() == .body(ByteBuffer(string: "partial"), more: true))
        await #expect(throws: Broken.self) { try await communicator.wait() }
    }

    @Test func noContentAndNotModifiedCarryNoLength() async throws {
        let app = Self.app { router in
            router.get("/204") { _ in Response(status: .noContent) }
            router.get("/304") { _ in Response(status: .notModified) }
        }
        let client = TestClient(app)
        #expect(try await client.get("/204").headers == [:])
        #expect(try await client.get("/304").headers == [:])
    }
}

/// Log messages a test can read.
final class LogRecords: Sendable {
    private let storage = NIOLockedValueBox<[String]>([])
    var messages: [String] { self.storage.withLockedValue { $0 } }
    func append(_ message: String) { self.storage.withLockedValue { $0.append(message) } }
}

/// A swift-log handler that records messages.
struct RecordingLogHandler: LogHandler {
    let records: LogRecords
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { self.metadata[key] }
        set { self.metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        self.records.append("\(event.message)")
    }
}
