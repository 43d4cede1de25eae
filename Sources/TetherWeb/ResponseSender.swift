import HTTPTypes
import NIOCore
import NIOFileSystem
import TetherGateway

/// Turns a ``Response`` into outbound events.
struct ResponseSender {
    let send: Send
    let scope: HTTPScope
    let fileChunkSize: Int

    /// Sends `response`; a HEAD request gets the head alone. Nothing is sent once the task is cancelled.
    func send(_ response: Response) async throws {
        var headers = response.headers
        let bodyAllowed = self.scope.method != .head && Self.allowsBody(response.status)
        // Trailers follow a body of unknown length: chunked on HTTP/1.1, files read rather than sent whole.
        let trailers = bodyAllowed ? response.trailers : nil
        let start = OutboundEvent.start(status: response.status, headers: headers, trailers: trailers != nil)
        switch response.body.storage {
        case .bytes(let bytes):
            if headers[.contentLength] == nil, Self.allowsBody(response.status), trailers == nil {
                headers[.contentLength] = String(bytes.readableBytes)
            }
            try await self.emit(.start(status: response.status, headers: headers, trailers: trailers != nil))
            try await self.emit(.body(bodyAllowed ? bytes : ByteBuffer(), more: false))
        case .stream(let write):
            try await self.emit(start)
            if bodyAllowed {
                try await write(
                    ResponseBodyWriter { chunk in
                        guard chunk.readableBytes > 0 else { return }
                        try await self.emit(.body(chunk, more: true))
                    })
            }
            try await self.emit(.body(ByteBuffer(), more: false))
        case .file(let file):
            try await self.emit(start)
            if !bodyAllowed {
                try await self.emit(.body(ByteBuffer(), more: false))
            } else if self.scope.extensions[FileSend.self] == true, trailers == nil {
                try await self.emit(.file(FileRange(path: file.path, offset: file.offset, count: file.count)))
            } else {
                try await self.sendChunks(of: file)
            }
        }
        if let trailers { try await self.emit(.trailers(try await trailers())) }
    }

    private func sendChunks(of file: FileBody) async throws {
        try await FileSystem.shared.withFileHandle(forReadingAt: FilePath(file.path)) { handle in
            let range = file.offset..<(file.offset + file.count)
            for try await chunk in handle.readChunks(in: range, chunkLength: .bytes(Int64(self.fileChunkSize))) {
                try await self.emit(.body(chunk, more: true))
            }
        }
        try await self.emit(.body(ByteBuffer(), more: false))
    }

    /// Sends `event` unless the request was cancelled: a departed client gets nothing more.
    private func emit(_ event: OutboundEvent) async throws {
        try Task.checkCancellation()
        try await self.send(event)
    }

    /// Whether a response with `status` may carry a body (RFC 9110 §6.4.1).
    static func allowsBody(_ status: HTTPResponse.Status) -> Bool {
        status.kind != .informational && status != .noContent && status != .notModified
    }
}
