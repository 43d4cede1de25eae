import NIOCore
import TestSupport
import Testing
import TetherMultipart
import TetherTesting
import TetherWeb

/// A body that is not a well-formed `multipart/form-data` form is 400 (415 when it is not one at all), with a
/// message, and leaves no part file.
@Suite struct MultipartMalformedTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var headers: HTTPFields = MultipartBody.headers
        var body: ByteBuffer
        var status: HTTPResponse.Status = .badRequest
        var message: String
        var testDescription: String { self.name }
    }

    static let boundary = MultipartBody.boundary

    static let cases: [Case] = [
        Case(
            name: "not multipart", headers: [.contentType: "application/json"], body: ByteBuffer(string: "{}"),
            status: .unsupportedMediaType, message: "The request body is not multipart/form-data."),
        Case(
            name: "no Content-Type", headers: [:], body: ByteBuffer(string: "a"), status: .unsupportedMediaType,
            message: "The request body is not multipart/form-data."),
        Case(
            name: "no boundary", headers: [.contentType: "multipart/form-data"], body: ByteBuffer(string: "a"),
            message: "The multipart/form-data Content-Type has no valid boundary."),
        Case(
            name: "boundary too long",
            headers: [.contentType: "multipart/form-data; boundary=\(String(repeating: "b", count: 71))"],
            body: ByteBuffer(string: "a"), message: "The multipart/form-data Content-Type has no valid boundary."),
        Case(
            name: "no part", body: ByteBuffer(string: "just text, no boundary"),
            message: "The multipart body has no part delimited by its boundary."),
        Case(
            name: "ends in a file part", body: Self.truncated(after: .repeating(9, count: 50_000)),
            message: "The multipart body ends before its closing boundary."),
        Case(
            name: "ends after a delimiter", body: ByteBuffer(string: "--\(boundary)\r\n"),
            message: "The multipart body ends before its closing boundary."),
        Case(
            name: "ends in a header", body: ByteBuffer(string: "--\(boundary)\r\nContent-Disposition: form-da"),
            message: "The multipart body ends before its closing boundary."),
        Case(
            name: "ends after a part",
            body: ByteBuffer(
                string: "--\(boundary)\r\nContent-Disposition: form-data; name=a\r\n\r\nx\r\n--\(boundary)"),
            message: "The multipart body ends before its closing boundary."),
        Case(
            name: "header without colon",
            body: ByteBuffer(string: "--\(boundary)\r\nContent-Disposition\r\n\r\nx\r\n--\(boundary)--\r\n"),
            message: "The multipart body is malformed."),
        Case(
            name: "part without a name",
            body: ByteBuffer(string: "--\(boundary)\r\nContent-Disposition: form-data\r\n\r\nx\r\n--\(boundary)--\r\n"),
            message: "A part of the form has no Content-Disposition with a name."),
        Case(
            name: "part without headers", body: ByteBuffer(string: "--\(boundary)\r\n\r\nx\r\n--\(boundary)--\r\n"),
            message: "A part of the form has no Content-Disposition with a name."),
        Case(
            name: "field not UTF-8",
            body: {
                var body = MultipartBody()
                body.part(headers: "Content-Disposition: form-data; name=\"bio\"", ByteBuffer(bytes: [0x61, 0xFF]))
                return body.finished
            }(), message: "Field 'bio' is not valid UTF-8."),
    ]

    /// A form whose file part, `content`, is cut off before the boundary that would end it.
    static func truncated(after content: ByteBuffer) -> ByteBuffer {
        var body = MultipartBody()
        body.field("first", "1")
        body.file("upload", filename: "cut.bin", content)
        var bytes = body.bytes
        bytes.moveWriterIndex(to: bytes.writerIndex - 2)
        return bytes
    }

    @Test(arguments: Self.cases)
    func aMalformedFormIsAnsweredWithItsProblem(_ test: Case) async throws {
        let directory = try TemporaryDirectory()
        let configuration = WebApplication.Configuration.spooling(to: directory.path)
        let read = Box(false)
        let response = try await postForm(test.body, headers: test.headers, configuration: configuration) { request in
            _ = try await request.multipartForm(spooling: configuration)
            read.value = true
            return .text("ok")
        }
        #expect(response.status == test.status)
        #expect(response.text == test.message)
        #expect(!read.value)
        #expect(directory.contents.isEmpty)
    }

    @Test func aPreambleAndAnEpilogueAreIgnored() async throws {
        var body = ByteBuffer(string: "This is the preamble.\r\n")
        var form = MultipartBody()
        form.field("a", "1")
        body.writeImmutableBuffer(form.finished)
        body.writeString("This is the epilogue.\r\n")
        let response = try await postForm(body) { request in
            .text(try await request.multipartForm().fields["a"] ?? "-")
        }
        #expect(response.text == "1")
    }

    @Test func theBoundaryMayBeQuotedAndTheMediaTypeInAnyCase() async throws {
        var form = MultipartBody()
        form.field("a", "1")
        let headers: HTTPFields = [.contentType: "Multipart/Form-Data; charset=utf-8; boundary=\"\(Self.boundary)\""]
        let response = try await postForm(form.finished, headers: headers) { request in
            .text(try await request.multipartForm().fields["a"] ?? "-")
        }
        #expect(response.text == "1")
    }
}
