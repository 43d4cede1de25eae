import Foundation
import NIOCore
import SystemPackage
import TestSupport
import Testing
import TetherGateway
import TetherMultipart
import TetherTesting
import TetherWeb

/// `multipart/form-data` bodies: fields in memory, file parts spooled on their own, and removed with the request.
@Suite struct MultipartFormTests {
    @Test func fieldsAndFilesAreReadWithTheirNames() async throws {
        var body = MultipartBody()
        body.field("title", "Holiday")
        body.field("tag", "sea")
        body.field("tag", "sun ☀️")
        body.file("photo", filename: "beach \\\"1\\\".png", contentType: "image/png", ByteBuffer(string: "PNG…"))
        body.part(headers: "Content-Disposition: form-data; name=notes; filename=a.txt", ByteBuffer())
        let seen = Box<[String]>([])
        let response = try await postForm(body.finished) { request in
            let form = try await request.multipartForm()
            let photo = try #require(form.file("photo"))
            let notes = try #require(form.file("notes"))
            seen.value = [
                form.fields["title"] ?? "-", form.fields.values(for: "tag").joined(separator: "|"),
                photo.name, photo.filename, photo.contentType, "\(photo.size)",
                String(buffer: try await photo.body.bytes()), photo.headers[.contentType] ?? "-",
                notes.filename, notes.contentType, "\(notes.size)", "\(form.files.count)",
            ]
            return .text("ok")
        }
        #expect(response.status == .ok)
        #expect(
            seen.value == [
                "Holiday", "sea|sun ☀️", "photo", "beach \"1\".png", "image/png", "\("PNG…".utf8.count)", "PNG…",
                "image/png", "a.txt", "application/octet-stream", "0", "2",
            ])
    }

    @Test func aFilePartIsSpooledToItsOwnTemporaryFileWhichIsGoneAfterTheRequest() async throws {
        let directory = try TemporaryDirectory()
        let configuration = WebApplication.Configuration.spooling(to: directory.path, threshold: 1024)
        let content = trickyContent(count: 300_000)
        var body = MultipartBody()
        body.field("before", "1")
        body.file("upload", filename: "big.bin", content)
        body.field("after", "2")
        let seen = Box<(path: String?, existed: Bool, intact: Bool, fields: [String?])>((nil, false, false, []))
        let response = try await postForm(body.finished, configuration: configuration) { request in
            let form = try await request.multipartForm(spooling: configuration)
            let upload = try #require(form.file("upload"))
            let path = upload.body.temporaryFile?.string
            seen.value = (
                path, path.map { FileManager.default.fileExists(atPath: $0) } ?? false,
                try await upload.body.bytes() == content, [form.fields["before"], form.fields["after"]]
            )
            return .text("ok")
        }
        #expect(response.status == .ok)
        let path = try #require(seen.value.path)
        #expect(path.hasPrefix(directory.path + "/"))
        #expect(seen.value.existed)
        #expect(seen.value.intact)
        #expect(seen.value.fields == ["1", "2"])
        #expect(!FileManager.default.fileExists(atPath: path))
        #expect(directory.contents.isEmpty)
    }

    @Test func aSmallFilePartStaysInMemory() async throws {
        var body = MultipartBody()
        body.file("upload", filename: "small.txt", ByteBuffer(string: "tiny"))
        let inMemory = Box<Bool?>(nil)
        _ = try await postForm(body.finished) { request in
            let upload = try #require(try await request.multipartForm().file("upload"))
            inMemory.value = upload.body.temporaryFile == nil && upload.size == 4
            return .text("ok")
        }
        #expect(inMemory.value == true)
    }

    @Test(arguments: [16, 1 << 20] as [Int64])
    func moveKeepsTheFileAfterTheRequest(threshold: Int64) async throws {
        let directory = try TemporaryDirectory()
        let configuration = WebApplication.Configuration.spooling(to: directory.path, threshold: threshold)
        var body = MultipartBody()
        body.file("upload", filename: "report.csv", ByteBuffer(string: "a,b\n1,2\n"))
        let destination = FilePath(directory.path + "/kept.csv")
        let response = try await postForm(body.finished, configuration: configuration) { request in
            let form = try await request.multipartForm(spooling: configuration)
            try await form.file("upload")?.move(to: destination)
            return .text("ok")
        }
        #expect(response.status == .ok)
        #expect(directory.contents == ["kept.csv"])
        #expect(try String(contentsOfFile: directory.path + "/kept.csv", encoding: .utf8) == "a,b\n1,2\n")
    }

    @Test func withMultipartFormRemovesThePartFilesWhenItsClosureEnds() async throws {
        let directory = try TemporaryDirectory()
        let configuration = WebApplication.Configuration.spooling(to: directory.path)
        var body = MultipartBody()
        body.file("upload", filename: "a.bin", .repeating(7, count: 4096))
        let kept = Box<MultipartFile?>(nil)
        let (inside, after) = (Box(false), Box(true))
        _ = try await postForm(body.finished, configuration: configuration) { request in
            let path = try await request.withMultipartForm(spooling: configuration) { form in
                // Even a file held past the closure is removed when it ends.
                kept.value = form.file("upload")
                let path = try #require(form.file("upload")?.body.temporaryFile?.string)
                inside.value = FileManager.default.fileExists(atPath: path)
                return path
            }
            after.value = FileManager.default.fileExists(atPath: path)
            return .text("ok")
        }
        #expect(inside.value)
        #expect(!after.value)
        #expect(kept.value != nil)
        await #expect(throws: BodyClosedError.self) { try await kept.value?.body.bytes() }
    }

    @Test func aHandlerErrorAfterReadingTheFormLeavesNoPartFile() async throws {
        let directory = try TemporaryDirectory()
        let configuration = WebApplication.Configuration.spooling(to: directory.path)
        var body = MultipartBody()
        body.file("upload", filename: "a.bin", .repeating(1, count: 10_000))
        let spooled = Box(false)
        let response = try await postForm(body.finished, configuration: configuration) { request in
            let form = try await request.multipartForm(spooling: configuration)
            spooled.value = form.file("upload")?.body.temporaryFile != nil
            throw HTTPError(.conflict, message: "No.")
        }
        #expect(response.status == .conflict)
        #expect(spooled.value)
        #expect(directory.contents.isEmpty)
    }

    @Test func aClientLeavingWhileTheHandlerHoldsTheFormLeavesNoPartFile() async throws {
        let directory = try TemporaryDirectory()
        let configuration = WebApplication.Configuration.spooling(to: directory.path)
        var body = MultipartBody()
        body.file("upload", filename: "a.bin", .repeating(2, count: 10_000))
        let (parsed, cancelled) = (Latch(), Latch())
        let partFile = Box<String?>(nil)
        var router = Router()
        router.post("/") { request in
            let form = try await request.multipartForm(spooling: configuration)
            partFile.value = form.file("upload")?.body.temporaryFile?.string
            parsed.open()
            do {
                try await Task.sleep(for: .seconds(60))
            } catch {
                cancelled.open()
                throw error
            }
            return .text("\(form.files.count)")
        }
        let app = WebApplication(router: router, configuration: configuration)
        let communicator = ApplicationCommunicator(
            app, scope: httpScope(.post, "/", headers: MultipartBody.headers))
        communicator.send(.body(body.finished, more: false))
        #expect(await parsed.wait())
        let path = try #require(partFile.value)
        #expect(FileManager.default.fileExists(atPath: path))
        communicator.send(.disconnect)
        #expect(await cancelled.wait())
        try await communicator.wait(timeout: .seconds(10))
        #expect(!FileManager.default.fileExists(atPath: path))
        #expect(directory.contents.isEmpty)
    }
}
