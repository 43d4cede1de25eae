import CompressNIO
import HTTPTypes
import NIOCore
import NIOFileSystem

/// Compresses response bodies with gzip or deflate, whichever the request's `Accept-Encoding` ranks highest by
/// q-value (a tie goes to the earlier of ``codings``); without an acceptable coding the body goes as it is.
///
/// Byte, streamed and file bodies are compressed chunk by chunk: a streamed chunk is flushed as it is written, so a
/// stream or an event stream still reaches the client piece by piece; a file is read through the body stream, not
/// sent by the server's file send. A compressed response gets `Content-Encoding`, loses `Content-Length` (byte bodies
/// get the compressed length back) and has a strong `ETag` made weak, as it is no longer the same bytes.
///
/// Left as they are: HEAD requests, statuses without a body (1xx, 204, 304), 206 and any `Content-Range`, responses
/// already encoded, `Cache-Control: no-transform`, bodies known to be smaller than ``minimumSize``, the content types
/// of ``incompressibleTypes``, and `text/event-stream` unless ``compressesEventStreams``. Every response that could be
/// compressed, whether or not this request accepted it, gets `Vary: Accept-Encoding`, so that caches keep each
/// encoding apart.
///
/// The compressor of a streamed or file body lives while its body is written: it is released when the body ends,
/// fails, or its client leaves (the moment the request's task is cancelled); nothing more is compressed after that.
///
/// ```swift
/// let app = WebApplication(router: router, middleware: [CompressionMiddleware()])
/// ```
public struct CompressionMiddleware: Middleware {
    /// Bodies smaller than this many bytes (known from their bytes, file size or `Content-Length`) are not
    /// compressed: the coding's framing would outweigh the gain. Default 1,024.
    public var minimumSize: Int
    /// The codings offered, in order of preference when the request ranks several equally. Default gzip, deflate.
    public var codings: [ContentCoding]
    /// Whether `text/event-stream` responses are compressed too (each event flushed as it is written). Default
    /// `false`, as some proxies hold compressed streams back.
    public var compressesEventStreams: Bool
    /// Media types (without parameters, lowercase) whose bodies are already compressed, or `type/*` for a whole
    /// type. Default ``defaultIncompressibleTypes``.
    public var incompressibleTypes: Set<String>
    /// Files are read in chunks of this many bytes. Default 64 KiB.
    public var fileChunkSize: Int

    /// Already compressed media: raster images, audio, video, web fonts, archives and compressed files.
    public static let defaultIncompressibleTypes: Set<String> = [
        "image/png", "image/jpeg", "image/gif", "image/webp", "image/avif", "image/apng", "image/heic",
        "audio/*", "video/*", "font/woff", "font/woff2",
        "application/zip", "application/gzip", "application/x-gzip", "application/x-bzip2", "application/x-xz",
        "application/zstd", "application/x-7z-compressed", "application/vnd.rar", "application/x-rar-compressed",
    ]

    private let count = CompressorCount()

    /// A compression policy; every parameter is a property documented above.
    public init(
        minimumSize: Int = 1024,
        codings: [ContentCoding] = [.gzip, .deflate],
        compressesEventStreams: Bool = false,
        incompressibleTypes: Set<String> = Self.defaultIncompressibleTypes,
        fileChunkSize: Int = 64 * 1024
    ) {
        self.minimumSize = minimumSize
        self.codings = codings
        self.compressesEventStreams = compressesEventStreams
        self.incompressibleTypes = incompressibleTypes
        self.fileChunkSize = fileChunkSize
    }

    /// How many response bodies this middleware (and its copies) is compressing now: a compressor alive. It drops
    /// back as soon as a body ends or its client leaves.
    public var activeCompressors: Int { self.count.current }

    public func respond(to request: Request, next: Handler) async throws -> Response {
        var response = try await next(request)
        guard self.isCompressible(response) else { return response }
        Self.varyOnAcceptEncoding(&response)
        guard request.method != .head,
            let coding = ContentCoding.preferred(in: request.headers[values: .acceptEncoding], offered: self.codings)
        else { return response }
        switch response.body.storage {
        case .bytes(let bytes):
            // A whole body is compressed at once, and gets its compressed length back from the sender.
            guard let compressed = try? ResponseCompressor(coding, count: self.count).compress(bytes, flush: .finish)
            else { return response }
            response.body = ResponseBody(compressed)
        case .stream(let write):
            response.body = ResponseBody { writer in
                try await self.compressing(coding, into: writer) { compressor in
                    try await write(
                        ResponseBodyWriter { chunk in
                            try await compressor.write(chunk, flush: .sync)
                        })
                }
            }
        case .file(let file):
            let chunkLength = Int64(self.fileChunkSize)
            response.body = ResponseBody { writer in
                try await self.compressing(coding, into: writer) { compressor in
                    try await FileSystem.shared.withFileHandle(forReadingAt: FilePath(file.path)) { handle in
                        let range = file.offset..<(file.offset + file.count)
                        for try await chunk in handle.readChunks(in: range, chunkLength: .bytes(chunkLength)) {
                            try await compressor.write(chunk, flush: .no)
                        }
                    }
                }
            }
        }
        response.headers[.contentEncoding] = coding.rawValue
        response.headers[.contentLength] = nil
        if let etag = response.headers[.eTag], etag.hasPrefix("\"") { response.headers[.eTag] = "W/" + etag }
        return response
    }

    /// Runs `body` with a compressor writing to `writer`, ends the stream when `body` returns, and releases the
    /// compressor on every path: end, error, or cancellation the moment it happens.
    private func compressing(
        _ coding: ContentCoding,
        into writer: ResponseBodyWriter,
        _ body: (CompressingWriter) async throws -> Void
    ) async throws {
        let compressor = try ResponseCompressor(coding, count: self.count)
        defer { compressor.release() }
        try await withTaskCancellationHandler {
            let compressing = CompressingWriter(compressor: compressor, writer: writer)
            try await body(compressing)
            try await compressing.write(ByteBuffer(), flush: .finish)
        } onCancel: {
            compressor.release()
        }
    }

    /// Whether `response` may be compressed, whatever the request accepts.
    private func isCompressible(_ response: Response) -> Bool {
        guard ResponseSender.allowsBody(response.status), response.status != .partialContent,
            response.headers[.contentRange] == nil
        else { return false }
        if let encoding = response.headers[.contentEncoding], encoding.trimmingOWS.lowercased() != "identity" {
            return false
        }
        let directives = response.headers[values: .cacheControl].flatMap { $0.split(separator: ",") }
        if directives.contains(where: { $0.trimmingOWS.lowercased() == "no-transform" }) { return false }
        if let type = response.headers[.contentType] {
            let mediaType = type.split(separator: ";", maxSplits: 1).first.map { $0.trimmingOWS.lowercased() } ?? ""
            if mediaType == "text/event-stream" { return self.compressesEventStreams }
            let wholeType = (mediaType.split(separator: "/").first.map(String.init) ?? "") + "/*"
            if self.incompressibleTypes.contains(mediaType) || self.incompressibleTypes.contains(wholeType) {
                return false
            }
        }
        switch response.body.storage {
        case .bytes(let bytes): return bytes.readableBytes >= self.minimumSize
        case .file(let file): return file.count >= self.minimumSize
        case .stream:
            let declared = response.headers[.contentLength].flatMap(Int.init)
            return declared.map { $0 >= self.minimumSize } ?? true
        }
    }

    /// Adds `Accept-Encoding` to the response's `Vary`, unless it is already there or `Vary` is `*`.
    private static func varyOnAcceptEncoding(_ response: inout Response) {
        let listed = response.headers[values: .vary].flatMap { $0.split(separator: ",").map(\.trimmingOWS) }
        guard !listed.contains(where: { $0 == "*" || $0.lowercased() == "accept-encoding" }) else { return }
        response.headers[.vary] = (listed.map(String.init) + ["Accept-Encoding"]).joined(separator: ", ")
    }
}

/// Compresses each chunk and writes what comes out; stops at once, before compressing, when the client has left.
private struct CompressingWriter: Sendable {
    let compressor: ResponseCompressor
    let writer: ResponseBodyWriter

    func write(_ chunk: ByteBuffer, flush: CompressNIOFlush) async throws {
        try Task.checkCancellation()
        guard chunk.readableBytes > 0 || flush == .finish else { return }
        let output = try self.compressor.compress(chunk, flush: flush)
        if output.readableBytes > 0 { try await self.writer.write(output) }
    }
}
