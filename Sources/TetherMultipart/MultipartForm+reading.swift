import NIOCore
import TetherWeb

extension MultipartForm {
    /// Reads the form from `body` as a stream: fields into memory, each file part into a `SpooledBody` of its
    /// own, spooled as `spooling` says; on every throw the part files read so far are removed.
    static func read(
        _ body: SpooledBody, boundary: String, limits: Limits, spooling: WebApplication.Configuration
    ) async throws -> MultipartForm {
        let reader = MultipartReader(body: body, boundary: boundary, limits: limits)
        var spooling = spooling
        // The reader enforces the part's limits, with messages that name them.
        spooling.maxBodySize = nil
        var fields: [(name: String, value: String)] = []
        var files: [MultipartFile] = []
        do {
            while let headers = try await reader.nextPart() {
                let head = try MultipartPartHead(headers)
                if let filename = head.filename {
                    let content = try await SpooledBody.read(
                        from: {
                            let bytes = try await reader.nextBytes(of: head.name, isField: false)
                            return .body(bytes ?? ByteBuffer(), more: bytes != nil)
                        }, limits: spooling, threadPool: spooling.threadPool)
                    files.append(
                        MultipartFile(
                            name: head.name, filename: filename, contentType: head.contentType, headers: head.headers,
                            body: content))
                } else {
                    var value = ByteBuffer()
                    while var bytes = try await reader.nextBytes(of: head.name, isField: true) {
                        value.writeBuffer(&bytes)
                    }
                    guard let text = String(validating: value.readableBytesView, as: UTF8.self) else {
                        throw HTTPError(.badRequest, message: "Field '\(head.name)' is not valid UTF-8.")
                    }
                    fields.append((head.name, text))
                }
            }
        } catch {
            for file in files { file.body.close() }
            throw error
        }
        return MultipartForm(fields: QueryParameters(fields), files: files)
    }
}
