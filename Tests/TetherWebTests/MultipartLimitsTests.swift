import NIOCore
import TestSupport
import Testing
import TetherMultipart
import TetherTesting
import TetherWeb

/// Every limit of a multipart form answers 413, naming itself, and leaves no part file; a form at the limits passes.
@Suite struct MultipartLimitsTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var limit: String
        var limits: MultipartForm.Limits
        /// The form, `over` the limit or at it.
        var body: @Sendable (_ over: Bool) -> ByteBuffer
        var testDescription: String { self.limit }
    }

    static func limits(_ change: (inout MultipartForm.Limits) -> Void) -> MultipartForm.Limits {
        var limits = MultipartForm.Limits()
        change(&limits)
        return limits
    }

    static let cases: [Case] = [
        Case(limit: "maxParts", limits: Self.limits { $0.maxParts = 3 }) { over in
            var body = MultipartBody()
            body.file("first", filename: "a.bin", .repeating(1, count: 100))
            for index in 0..<(over ? 3 : 2) { body.field("field\(index)", "x") }
            return body.finished
        },
        Case(limit: "maxPartSize", limits: Self.limits { $0.maxPartSize = 1000 }) { over in
            var body = MultipartBody()
            body.field("note", "kept")
            body.file("upload", filename: "a.bin", .repeating(1, count: over ? 1001 : 1000))
            return body.finished
        },
        Case(limit: "maxFieldSize", limits: Self.limits { $0.maxFieldSize = 10 }) { over in
            var body = MultipartBody()
            // A file part of the same size is not a field.
            body.file("upload", filename: "a.bin", .repeating(1, count: 100))
            body.field("note", over ? "eleven char" : "ten chars!")
            return body.finished
        },
        Case(limit: "maxTotalSize", limits: Self.limits { $0.maxTotalSize = 1000 }) { over in
            var body = MultipartBody()
            body.file("first", filename: "a.bin", .repeating(1, count: 600))
            body.file("second", filename: "b.bin", .repeating(2, count: over ? 401 : 400))
            return body.finished
        },
        Case(limit: "maxHeaderBytes", limits: Self.limits { $0.maxHeaderBytes = 200 }) { over in
            var body = MultipartBody()
            body.file("first", filename: "a.bin", .repeating(1, count: 100))
            let padding = String(repeating: "p", count: over ? 200 : 100)
            body.part(headers: "Content-Disposition: form-data; name=\"note\"\r\nX-Padding: \(padding)", .init())
            return body.finished
        },
    ]

    @Test(arguments: Self.cases)
    func pastALimitIs413NamingItAndNoPartFileIsLeft(_ test: Case) async throws {
        let directory = try TemporaryDirectory()
        let configuration = WebApplication.Configuration.spooling(to: directory.path)
        let read = Box(false)
        let response = try await postForm(test.body(true), configuration: configuration) { request in
            _ = try await request.multipartForm(limits: test.limits, spooling: configuration)
            read.value = true
            return .text("ok")
        }
        #expect(response.status == .contentTooLarge)
        #expect(response.text.contains("(limit: \(test.limit))"), "\(response.text)")
        #expect(!read.value)
        #expect(directory.contents.isEmpty)
    }

    @Test(arguments: Self.cases)
    func aFormAtALimitIsRead(_ test: Case) async throws {
        let response = try await postForm(test.body(false)) { request in
            .text("\(try await request.multipartForm(limits: test.limits).files.count)")
        }
        #expect(response.status == .ok, "\(response.text)")
    }

    @Test func defaultsAreDocumented() {
        let limits = MultipartForm.Limits()
        #expect(limits.maxPartSize == 100 << 20)
        #expect(limits.maxTotalSize == 1 << 30)
        #expect(limits.maxParts == 1000)
        #expect(limits.maxFieldSize == 1 << 20)
        #expect(limits.maxHeaderBytes == 16 * 1024)
    }

    @Test func aLongHeaderValueCannotGrowUnseen() async throws {
        // One header line that never ends: the parser would hold it all; the reader stops it.
        var bytes = ByteBuffer(string: "--\(MultipartBody.boundary)\r\nX-Long: ")
        bytes.writeImmutableBuffer(.repeating(UInt8(ascii: "a"), count: 200_000))
        let response = try await postForm(bytes) { request in
            _ = try await request.multipartForm()
            return .text("ok")
        }
        #expect(response.status == .contentTooLarge)
        #expect(response.text.contains("(limit: maxHeaderBytes)"))
    }
}
