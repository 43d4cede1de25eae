import Foundation
import NIOCore
import TestSupport
import Testing
import TetherMultipart
import TetherServer
import TetherSoak
import TetherWeb

/// A multipart upload whose client leaves, over a real socket: no handler for a body never finished, and no part
/// file left behind by a handler that was cancelled.
@Suite struct MultipartOverSocketTests {
    static let boundary = "----TetherSocketBoundary"

    /// The head of a multipart upload of `contentLength` bytes.
    static func head(contentLength: Int) -> String {
        "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=\(Self.boundary)\r\n"
            + "Content-Length: \(contentLength)\r\n\r\n"
    }

    /// The form's first parts, up to its file part's content.
    static let formStart =
        "--\(boundary)\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nholiday\r\n"
        + "--\(boundary)\r\nContent-Disposition: form-data; name=\"video\"; filename=\"big.bin\"\r\n\r\n"

    /// A fresh directory for spooled files, removed after `body`.
    static func withDirectory(_ body: (String) async throws -> Void) async throws {
        let directory = FileManager.default.temporaryDirectory.path + "/tether-multipart-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await body(directory)
    }

    /// The defaults, spooling to `directory` past `threshold` bytes.
    static func configuration(spoolingTo directory: String, threshold: Int64 = 2_621_440)
        -> WebApplication.Configuration
    {
        var configuration = WebApplication.Configuration()
        configuration.temporaryDirectory = .init(directory)
        configuration.spoolThreshold = threshold
        return configuration
    }

    /// Whether `condition` holds within ten seconds.
    static func eventually(_ condition: () -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(10)
        while !condition() {
            guard ContinuousClock.now < deadline else { return false }
            try await Task.sleep(for: .milliseconds(10))
        }
        return true
    }

    static func files(in directory: String) -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
    }

    @Test func leavingMidUploadRunsNoHandlerAndLeavesNoFile() async throws {
        try await Self.withDirectory { directory in
            let configuration = Self.configuration(spoolingTo: directory)
            let ran = Box(false)
            var router = Router()
            router.post("/upload") { request in
                ran.value = true
                return .text("\(try await request.multipartForm(spooling: configuration).files.count)")
            }
            try await withServer(WebApplication(router: router, configuration: configuration)) { port, _ in
                let client = try await RawClient.connect(port: port)
                try await client.send(Self.head(contentLength: 8 << 20) + Self.formStart)
                try await client.send(ByteBuffer(repeating: 7, count: 1 << 20))
                // Its Content-Length past the spooling threshold, the body goes to a file from its first byte.
                #expect(try await Self.eventually { !Self.files(in: directory).isEmpty })
                try await client.close()
                #expect(try await Self.eventually { Self.files(in: directory).isEmpty })
                #expect(!ran.value)
            }
        }
    }

    @Test func leavingWhileTheHandlerHoldsTheFormRemovesItsPartFiles() async throws {
        try await Self.withDirectory { directory in
            let configuration = Self.configuration(spoolingTo: directory, threshold: 1024)
            let (parsed, cancelled) = (Latch(), Latch())
            let partFile = Box<String?>(nil)
            var router = Router()
            router.post("/upload") { request in
                let form = try await request.multipartForm(spooling: configuration)
                partFile.value = form.file("video")?.body.temporaryFile?.string
                parsed.open()
                do {
                    try await Task.sleep(for: .seconds(60))
                } catch {
                    cancelled.open()
                    throw error
                }
                return .text("\(form.files.count)")
            }
            try await withServer(WebApplication(router: router, configuration: configuration)) { port, _ in
                var form = ByteBuffer(string: Self.formStart)
                form.writeRepeatingByte(7, count: 300_000)
                form.writeString("\r\n--\(Self.boundary)--\r\n")
                let client = try await RawClient.connect(port: port)
                try await client.send(Self.head(contentLength: form.readableBytes))
                try await client.send(form)
                #expect(await parsed.wait())
                let path = try #require(partFile.value)
                #expect(FileManager.default.fileExists(atPath: path))
                try await client.close()
                #expect(await cancelled.wait())
                #expect(try await Self.eventually { Self.files(in: directory).isEmpty })
            }
        }
    }
}
