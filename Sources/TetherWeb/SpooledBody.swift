import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Synchronization
import SystemPackage
import TetherGateway

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A request body held in memory up to a threshold and in a temporary file beyond it.
///
/// Its temporary file is removed by ``close()``, which the web layer calls exactly once when the request
/// ends, on every path.
public final class SpooledBody: Sendable {
    private enum Storage: Sendable {
        case memory(ByteBuffer)
        case file(path: FilePath, descriptor: SystemPackage.FileDescriptor)
    }

    private let storage: Storage
    private let threadPool: NIOThreadPool
    private let closed = Atomic(false)

    /// The body's size in bytes.
    public let count: Int64

    /// The temporary file's path, or `nil` while the body fits in memory.
    public var temporaryFile: FilePath? {
        if case .file(let path, _) = self.storage { path } else { nil }
    }

    private init(storage: Storage, count: Int64, threadPool: NIOThreadPool) {
        self.storage = storage
        self.count = count
        self.threadPool = threadPool
    }

    /// A body held in memory.
    public convenience init(_ bytes: ByteBuffer) {
        self.init(storage: .memory(bytes), count: Int64(bytes.readableBytes), threadPool: .singleton)
    }

    deinit {
        self.close()
    }

    /// The whole body in one buffer.
    public func bytes() async throws -> ByteBuffer {
        switch self.storage {
        case .memory(let bytes):
            return bytes
        case .file:
            return try await self.threadPool.runIfActive { try self.bytesBlocking() }
        }
    }

    /// The whole body in one buffer, read on the calling thread: for blocking handlers only.
    public func bytesBlocking() throws -> ByteBuffer {
        switch self.storage {
        case .memory(let bytes):
            return bytes
        case .file:
            return try self.readBlocking(from: 0, upTo: Int(self.count))
        }
    }

    /// The body as a sequence of chunks of at most `chunkSize` bytes, read from disk as they are asked for.
    public func chunks(chunkSize: Int = 64 * 1024) -> Chunks {
        Chunks(body: self, chunkSize: max(1, chunkSize))
    }

    /// Removes the temporary file, if any; later reads fail. Safe to call more than once.
    public func close() {
        guard case .file(let path, let descriptor) = self.storage else { return }
        guard !self.closed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        try? descriptor.close()
        _ = path.withPlatformString { unlink($0) }
    }

    private func readBlocking(from offset: Int64, upTo count: Int) throws -> ByteBuffer {
        var buffer = ByteBuffer()
        try self.readBlocking(into: &buffer, from: offset, upTo: count)
        return buffer
    }

    /// Appends up to `count` bytes from `offset` of the file to `buffer`.
    private func readBlocking(into buffer: inout ByteBuffer, from offset: Int64, upTo count: Int) throws {
        guard case .file(_, let descriptor) = self.storage else { return }
        guard !self.closed.load(ordering: .acquiring) else { throw BodyClosedError() }
        try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { pointer in
            var filled = 0
            while filled < count {
                let read = try descriptor.read(
                    fromAbsoluteOffset: offset + Int64(filled),
                    into: UnsafeMutableRawBufferPointer(rebasing: pointer[filled..<count]))
                if read == 0 { break }
                filled += read
            }
            return filled
        }
    }

    /// The body's chunks, read lazily.
    public struct Chunks: AsyncSequence, Sendable {
        public typealias Element = ByteBuffer
        let body: SpooledBody
        let chunkSize: Int

        public func makeAsyncIterator() -> Iterator {
            Iterator(body: self.body, chunkSize: self.chunkSize)
        }

        /// Reads the next chunk.
        public struct Iterator: AsyncIteratorProtocol {
            let body: SpooledBody
            let chunkSize: Int
            var offset: Int64 = 0

            public mutating func next() async throws -> ByteBuffer? {
                guard self.offset < self.body.count else { return nil }
                let length = Int(Swift.min(Int64(self.chunkSize), self.body.count - self.offset))
                let chunk: ByteBuffer
                switch self.body.storage {
                case .memory(let bytes):
                    chunk = bytes.getSlice(at: bytes.readerIndex + Int(self.offset), length: length)!
                case .file:
                    // The chunk is allocated here and filled on the pool: allocated there, it would leave
                    // memory in each pool thread's malloc arena.
                    let (body, offset) = (self.body, self.offset)
                    let buffer = NIOLockedValueBox(ByteBuffer())
                    buffer.withLockedValue { $0.reserveCapacity(length) }
                    try await body.threadPool.runIfActive {
                        try buffer.withLockedValue { try body.readBlocking(into: &$0, from: offset, upTo: length) }
                    }
                    chunk = buffer.withLockedValue { $0 }
                }
                self.offset += Int64(length)
                return chunk
            }
        }
    }
}

extension SpooledBody {
    /// Reads a request body from `receive` into memory, then into a temporary file past `limits.spoolThreshold`.
    ///
    /// A body whose `declaredLength` (its Content-Length) is already past the threshold goes to the file from its
    /// first byte, as Django does. Throws `ClientDisconnected` when the client leaves, ``BodyTooLarge`` past
    /// `limits.maxBodySize`, and `ProtocolError` for an event that is not a body chunk; the temporary file is
    /// gone on every throw. Files are written on `threadPool`.
    public static func read(
        from receive: Receive,
        declaredLength: Int64? = nil,
        limits: WebApplication.Configuration,
        threadPool: NIOThreadPool
    ) async throws -> SpooledBody {
        var spool = Spool(limits: limits, declaredLength: declaredLength)
        do {
            while true {
                let event = try await receive()
                switch event {
                case .body(let chunk, let more):
                    try await spool.append(chunk, threadPool: threadPool)
                    if !more { return try await spool.finish(threadPool: threadPool) }
                case .disconnect:
                    throw ClientDisconnected()
                case .startup, .shutdown, .websocketConnect, .websocketReceive, .websocketDisconnect:
                    throw ProtocolError("Invalid message while reading the request body: \(event)")
                }
            }
        } catch {
            spool.discard()
            throw error
        }
    }
}

/// The body being read: memory, then a temporary file.
private struct Spool {
    /// Chunks written in one `pwritev` at the most: each holds a read buffer of the connection until written.
    static let maxChunksPerWrite = 64

    let limits: WebApplication.Configuration
    /// Bytes the body may reach in memory: the configured threshold, or 0 when the body is known to be larger.
    let memoryLimit: Int64
    /// The body while it fits in memory, in one buffer.
    var memory = ByteBuffer()
    /// Once the body goes to the file: the chunks on their way there, as they arrived (no copy).
    var pending: [ByteBuffer] = []
    var pendingBytes = 0
    var file: (path: FilePath, descriptor: SystemPackage.FileDescriptor)?
    var count: Int64 = 0

    init(limits: WebApplication.Configuration, declaredLength: Int64?) {
        self.limits = limits
        self.memoryLimit = (declaredLength ?? 0) > limits.spoolThreshold ? 0 : limits.spoolThreshold
    }

    mutating func append(_ chunk: ByteBuffer, threadPool: NIOThreadPool) async throws {
        guard chunk.readableBytes > 0 else { return }
        self.count += Int64(chunk.readableBytes)
        if let limit = self.limits.maxBodySize, self.count > limit {
            throw BodyTooLarge(limit: limit)
        }
        if self.file == nil, self.count <= self.memoryLimit {
            if self.memory.readableBytes == 0 {
                self.memory = chunk
            } else {
                self.memory.writeImmutableBuffer(chunk)
            }
            return
        }
        if self.memory.readableBytes > 0 {
            // Past the threshold: what memory held goes first.
            self.pending.append(self.memory)
            self.pendingBytes += self.memory.readableBytes
            self.memory = ByteBuffer()
        }
        self.pending.append(chunk)
        self.pendingBytes += chunk.readableBytes
        // The file is made the moment the body is known to go there; then writes wait for a batch.
        if self.file == nil || self.pendingBytes >= self.limits.writeBatchSize
            || self.pending.count >= Self.maxChunksPerWrite
        {
            try await self.flush(threadPool: threadPool)
        }
    }

    mutating func finish(threadPool: NIOThreadPool) async throws -> SpooledBody {
        guard self.file != nil || !self.pending.isEmpty else {
            return SpooledBody(self.memory)
        }
        try await self.flush(threadPool: threadPool)
        let file = self.file!
        self.file = nil
        return SpooledBody(file: file.path, descriptor: file.descriptor, count: self.count, threadPool: threadPool)
    }

    /// Writes the pending chunks at the end of the temporary file with one `pwritev`, creating it the first time.
    private mutating func flush(threadPool: NIOThreadPool) async throws {
        let chunks = self.pending
        let offset = self.count - Int64(self.pendingBytes)
        let existing = self.file
        let directory = self.limits.temporaryDirectory
        self.pending.removeAll(keepingCapacity: true)
        self.pendingBytes = 0
        // A file created by a cancelled task's job is still handed back, so that it can be discarded.
        let created = NIOLockedValueBox<(path: FilePath, descriptor: SystemPackage.FileDescriptor)?>(nil)
        do {
            let file = try await threadPool.runIfActive {
                let file = try existing ?? SpooledBody.createTemporaryFile(in: directory)
                if existing == nil { created.withLockedValue { $0 = file } }
                try Self.writeAll(chunks, to: file.descriptor, at: offset)
                return file
            }
            self.file = file
        } catch {
            if self.file == nil { self.file = created.withLockedValue { $0 } }
            throw error
        }
    }

    /// Writes `chunks` one after another from `offset`, with as few `pwritev` calls as the kernel allows.
    private static func writeAll(_ chunks: [ByteBuffer], to descriptor: SystemPackage.FileDescriptor, at offset: Int64)
        throws
    {
        var vectors: [iovec] = []
        vectors.reserveCapacity(chunks.count)
        try Self.withVectors(chunks[...], into: &vectors) { vectors in
            var written = 0
            var first = 0
            let total = chunks.reduce(0) { $0 + $1.readableBytes }
            while written < total {
                let result = vectors[first...].withUnsafeBufferPointer { pointer in
                    pwritev(
                        descriptor.rawValue, pointer.baseAddress, Int32(pointer.count), off_t(offset) + off_t(written))
                }
                if result < 0 {
                    if errno == EINTR { continue }
                    throw Errno(rawValue: errno)
                }
                written += result
                // Skip what was written: whole vectors, then the part of the next one.
                var done = result
                while first < vectors.count, done >= vectors[first].iov_len {
                    done -= vectors[first].iov_len
                    first += 1
                }
                if done > 0 {
                    vectors[first].iov_base += done
                    vectors[first].iov_len -= done
                }
            }
        }
    }

    /// Calls `body` with an `iovec` for each chunk, valid while the chunks' bytes are borrowed.
    private static func withVectors(
        _ chunks: ArraySlice<ByteBuffer>, into vectors: inout [iovec], _ body: (inout [iovec]) throws -> Void
    ) throws {
        guard let chunk = chunks.first else { return try body(&vectors) }
        try chunk.withUnsafeReadableBytes { bytes in
            vectors.append(iovec(iov_base: UnsafeMutableRawPointer(mutating: bytes.baseAddress), iov_len: bytes.count))
            try Self.withVectors(chunks.dropFirst(), into: &vectors, body)
        }
    }

    /// Closes and removes the temporary file, if any.
    mutating func discard() {
        guard let file = self.file else { return }
        try? file.descriptor.close()
        _ = file.path.withPlatformString { unlink($0) }
        self.file = nil
    }
}

extension SpooledBody {
    fileprivate convenience init(
        file path: FilePath, descriptor: SystemPackage.FileDescriptor, count: Int64, threadPool: NIOThreadPool
    ) {
        self.init(storage: .file(path: path, descriptor: descriptor), count: count, threadPool: threadPool)
    }

    fileprivate static func createTemporaryFile(in directory: FilePath) throws -> (
        path: FilePath, descriptor: SystemPackage.FileDescriptor
    ) {
        while true {
            let name = "tether-body-" + String(UInt64.random(in: .min ... .max), radix: 36)
            let path = directory.appending(name)
            do {
                let descriptor = try SystemPackage.FileDescriptor.open(
                    path, .readWrite, options: [.create, .exclusiveCreate, .closeOnExec],
                    permissions: [.ownerReadWrite])
                return (path, descriptor)
            } catch Errno.fileExists {
                continue
            }
        }
    }
}

/// The request body is larger than the configured maximum.
public struct BodyTooLarge: Error, CustomStringConvertible {
    /// The maximum, in bytes.
    public var limit: Int64

    public var description: String {
        "The request body exceeds \(self.limit) bytes (limit: maxBodySize)."
    }
}

/// A read of a ``SpooledBody`` after the request ended and its temporary file was removed.
public struct BodyClosedError: Error, CustomStringConvertible {
    public var description: String { "The request body was read after the request ended." }
}
