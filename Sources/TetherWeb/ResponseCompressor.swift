import CompressNIO
import NIOConcurrencyHelpers
import NIOCore

/// One response's zlib stream: compresses its body chunk by chunk, and frees the stream's memory once released.
///
/// Release happens once, on the first of: the body's end, an error, the request's task being cancelled (its client
/// left), so a departed client's compressor is freed at once, even while the handler is suspended in its stream.
/// Compressing after that throws `CancellationError`.
final class ResponseCompressor: @unchecked Sendable {
    // zlib's stream is not thread-safe: every use of it, and its release, happen under `lock`.
    private let lock = NIOLock()
    private var zlib: ZlibCompressor?
    private let count: CompressorCount

    /// A stream for `coding`, counted in `count` until released.
    init(_ coding: ContentCoding, count: CompressorCount) throws {
        self.zlib = try ZlibCompressor(algorithm: coding.algorithm)
        self.count = count
        count.add(1)
    }

    deinit {
        self.release()
    }

    /// Compresses `chunk`; with `.sync` everything compressed so far is in the output, with `.finish` the stream
    /// ends. Throws `CancellationError` once released.
    func compress(_ chunk: ByteBuffer, flush: CompressNIOFlush) throws -> ByteBuffer {
        try self.lock.withLock {
            guard let zlib = self.zlib else { throw CancellationError() }
            var input = chunk
            var output = ByteBufferAllocator().buffer(capacity: zlib.maxSize(from: input))
            while true {
                do {
                    try zlib.deflate(from: &input, to: &output, flush: flush)
                    // `.finish` returns only at the stream's end; otherwise room left means all input is flushed.
                    if flush == .finish || output.writableBytes > 0 { return output }
                } catch let error as CompressNIOError where error == .bufferOverflow {
                    // With room left, zlib had nothing to do; `.finish` says this while the output is full.
                    if flush != .finish, output.writableBytes > 0 { return output }
                }
                output.reserveCapacity(minimumWritableBytes: Swift.max(output.capacity, 4096))
            }
        }
    }

    /// Frees the stream; later calls do nothing.
    func release() {
        let released = self.lock.withLock {
            defer { self.zlib = nil }
            return self.zlib != nil
        }
        if released { self.count.add(-1) }
    }
}

/// How many compressors are alive, shared by the copies of one ``CompressionMiddleware``.
final class CompressorCount: Sendable {
    private let value = NIOLockedValueBox(0)

    /// The count now.
    var current: Int { self.value.withLockedValue { $0 } }

    /// Adds `delta` to the count.
    func add(_ delta: Int) {
        self.value.withLockedValue { $0 += delta }
    }
}
