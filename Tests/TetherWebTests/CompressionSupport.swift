import CompressNIO
import NIOCore
import TetherWeb

/// Text that compresses well, `count` bytes of it.
func compressibleText(_ count: Int) -> String {
    String(String(repeating: "the quick brown fox jumps over the lazy dog ", count: count / 44 + 1).prefix(count))
}

/// An application serving `response` at /, through `compression`.
func compressionApp(
    _ compression: CompressionMiddleware = CompressionMiddleware(),
    _ response: @escaping @Sendable () async throws -> Response
) -> WebApplication {
    var router = Router()
    router.get("/") { _ in try await response() }
    return WebApplication(router: router, middleware: [compression])
}

/// `body` decoded from the content coding named `coding` (`gzip` or `deflate`).
func decoded(_ body: ByteBuffer, _ coding: String?) throws -> String {
    var body = body
    let algorithm: CompressionAlgorithm = coding == "gzip" ? .gzip() : .zlib()
    return String(buffer: try body.decompress(with: algorithm))
}

/// What the gzip stream `body` decodes to so far, though it may be unfinished, as a client reads a stream.
func decodedSoFar(_ body: ByteBuffer) throws -> String {
    let decompressor = CompressionAlgorithm.gzip().decompressor
    try decompressor.startStream()
    var body = body
    return String(buffer: try body.decompressStream(with: decompressor))
}
