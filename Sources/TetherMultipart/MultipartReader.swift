import MultipartKit
import NIOCore
import TetherWeb

/// Reads a spooled `multipart/form-data` body through MultipartKit's streaming parser, one chunk at a time, and
/// hands out each part's header fields, then its content, then its end, enforcing the form's limits as it goes.
///
/// Unchecked `Sendable`: `SpooledBody.read(from:declaredLength:limits:threadPool:)` takes a file part's content
/// through a `@Sendable` receive closure, but only the task reading the form uses the reader, one call at a time.
final class MultipartReader: @unchecked Sendable {
    /// What the parser reports, in order: a part's header fields, its content in pieces, its end.
    enum Event {
        case part([(name: String, value: String)])
        case bytes(ByteBuffer)
        case end
    }

    /// Bytes that make the parser report something unless it has passed the closing boundary: a part's end, a
    /// header field, content, or a syntax error, whichever state a truncated body left it in.
    private static let probe = ByteBuffer(string: "\r\n\r\nX")

    private let limits: MultipartForm.Limits
    private let parser: MultipartParser
    private let reports = Reports()
    private var chunks: SpooledBody.Chunks.Iterator
    /// The next of `reports.events` to hand out.
    private var next = 0
    /// Bytes read since the parser last reported anything.
    private var quietBytes = 0
    private var finished = false
    private var partCount = 0
    private var partSize: Int64 = 0
    private var totalSize: Int64 = 0

    init(body: SpooledBody, boundary: String, limits: MultipartForm.Limits) {
        self.limits = limits
        self.chunks = body.chunks().makeAsyncIterator()
        self.parser = MultipartParser(boundary: boundary)
        self.parser.onHeader = { [reports] in reports.header(name: $0, value: $1) }
        self.parser.onBody = { [reports] in reports.content(&$0) }
        self.parser.onPartComplete = { [reports] in reports.partComplete() }
    }

    /// The next part's header fields, or `nil` after the last part; 413 past ``MultipartForm/Limits/maxParts``.
    func nextPart() async throws -> [(name: String, value: String)]? {
        while let event = try await self.nextEvent() {
            guard case .part(let headers) = event else { continue }
            self.partCount += 1
            guard self.partCount <= self.limits.maxParts else {
                throw HTTPError(
                    .contentTooLarge,
                    message: "The form has more than \(self.limits.maxParts) parts (limit: maxParts).")
            }
            self.partSize = 0
            return headers
        }
        return nil
    }

    /// The next piece of the current part's content, or `nil` at its end; 413 past the part's limit or the total.
    func nextBytes(of name: String, isField: Bool) async throws -> ByteBuffer? {
        guard case .bytes(let bytes) = try await self.nextEvent() else { return nil }
        self.partSize += Int64(bytes.readableBytes)
        self.totalSize += Int64(bytes.readableBytes)
        if isField, self.partSize > self.limits.maxFieldSize {
            throw HTTPError(
                .contentTooLarge,
                message: "Field '\(name)' exceeds \(self.limits.maxFieldSize) bytes (limit: maxFieldSize).")
        }
        if self.partSize > self.limits.maxPartSize {
            throw HTTPError(
                .contentTooLarge,
                message: "Part '\(name)' exceeds \(self.limits.maxPartSize) bytes (limit: maxPartSize).")
        }
        if self.totalSize > self.limits.maxTotalSize {
            throw HTTPError(
                .contentTooLarge,
                message: "The form's parts exceed \(self.limits.maxTotalSize) bytes in all (limit: maxTotalSize).")
        }
        return bytes
    }

    /// The next event, parsing the next chunk of the body when those of the last one are handed out.
    private func nextEvent() async throws -> Event? {
        while self.next == self.reports.events.count {
            self.reports.events.removeAll(keepingCapacity: true)
            self.next = 0
            guard !self.finished else { return nil }
            guard let chunk = try await self.chunks.next() else {
                self.finished = true
                try self.checkEnd()
                return nil
            }
            try Task.checkCancellation()
            try self.parse(chunk)
        }
        defer { self.next += 1 }
        return self.reports.events[self.next]
    }

    private func parse(_ chunk: ByteBuffer) throws {
        self.reports.reported = false
        do {
            try self.parser.execute(chunk)
        } catch {
            throw HTTPError(.badRequest, message: "The multipart body is malformed.")
        }
        self.reports.flushContent()
        self.quietBytes = self.reports.reported ? 0 : self.quietBytes + chunk.readableBytes
        if self.reports.largestHeaderBytes > self.limits.maxHeaderBytes || self.quietBytes > self.limits.maxHeaderBytes
        {
            throw HTTPError(
                .contentTooLarge,
                message: "A part's header fields exceed \(self.limits.maxHeaderBytes) bytes (limit: maxHeaderBytes).")
        }
    }

    /// Throws 400 unless the body ended after its closing boundary and had a part.
    private func checkEnd() throws {
        self.reports.reported = false
        let truncated = (try? self.parser.execute(Self.probe)) == nil || self.reports.reported
        self.reports.events.removeAll()
        if truncated {
            throw HTTPError(.badRequest, message: "The multipart body ends before its closing boundary.")
        }
        if self.partCount == 0 {
            throw HTTPError(.badRequest, message: "The multipart body has no part delimited by its boundary.")
        }
    }
}

/// What the parser reported while it read a chunk, gathered by its callbacks.
private final class Reports {
    var events: [MultipartReader.Event] = []
    /// Whether the parser reported anything since this was last reset.
    var reported = false
    /// Whether the current part was announced with a `.part` event.
    var inPart = false
    /// The current part's header fields, until it is announced, and their size.
    var headers: [(name: String, value: String)] = []
    var headerBytes = 0
    /// The largest size of a part's header fields so far: a part can begin and end within one chunk.
    var largestHeaderBytes = 0
    /// Content reported since the last event, gathered into one piece.
    var content = ByteBuffer()

    func header(name: String, value: String) {
        self.reported = true
        self.headers.append((name, value))
        self.headerBytes += name.utf8.count + value.utf8.count
        self.largestHeaderBytes = max(self.largestHeaderBytes, self.headerBytes)
    }

    func content(_ bytes: inout ByteBuffer) {
        self.reported = true
        self.announce()
        if self.content.readableBytes == 0 {
            self.content = bytes
        } else {
            self.content.writeBuffer(&bytes)
        }
    }

    func partComplete() {
        self.reported = true
        self.announce()
        self.flushContent()
        self.events.append(.end)
        self.inPart = false
    }

    func flushContent() {
        guard self.content.readableBytes > 0 else { return }
        self.events.append(.bytes(self.content))
        self.content = ByteBuffer()
    }

    /// A part begins with its first content or its end: the parser has no event for the end of its header fields.
    private func announce() {
        guard !self.inPart else { return }
        self.events.append(.part(self.headers))
        self.headers = []
        self.headerBytes = 0
        self.inPart = true
    }
}
