import CompressNIO
import NIOCore

/// The WebSocket permessage-deflate extension (RFC 7692) on the server side of one connection: it negotiates the
/// extension, inflates the messages the client compressed and deflates the ones the server sends.
///
/// The server always takes `server_no_context_takeover`: each message it sends is compressed on its own, so the
/// connection holds no deflate state between messages. The inflater keeps the client's LZ77 window between messages
/// (context takeover) unless `client_no_context_takeover` was negotiated; it is allocated on the first compressed
/// message, so an idle connection that negotiated the extension costs no zlib memory.
///
/// Not `Sendable`: it lives on its connection's event loop.
package final class PerMessageDeflate {
    /// How the server compresses what it sends.
    package struct Configuration: Sendable, Hashable {
        /// Messages smaller than this many bytes are sent uncompressed: deflating them saves a few bytes at best and
        /// costs a zlib stream each.
        package var compressionThreshold: Int = 256
        /// zlib's level, 1 (fastest) to 9 (smallest), 0 stores, -1 is zlib's default (6). 6: on JSON, levels above it
        /// save under 1 % for about twice the CPU.
        package var compressionLevel: Int32 = 6
        /// zlib's `memLevel`, 1 to 9: its hash table and symbol buffer take `1 << (memoryLevel + 9)` bytes. 5 rather
        /// than zlib's 8: 16 KiB instead of 128 KiB per stream, and within 0.3 % of memLevel 8's output on JSON and
        /// English text of 300 B to 200 KB (zlib 1.2.13, level 6).
        package var memoryLevel: Int32 = 5

        /// A configuration; the defaults are the server's.
        package init(compressionThreshold: Int = 256, compressionLevel: Int32 = 6, memoryLevel: Int32 = 5) {
            self.compressionThreshold = compressionThreshold
            self.compressionLevel = compressionLevel
            self.memoryLevel = memoryLevel
        }
    }

    /// Why a compressed message could not be inflated. Either way the connection must be failed (1009 suits the first):
    /// the client's LZ77 window, if it was kept, is lost with the inflater.
    package enum InflateError: Error, Hashable {
        /// The message inflates to more than the allowed size; inflating stopped as soon as it did.
        case tooLarge
        /// The payload is not a valid raw DEFLATE stream (or zlib could not allocate its state).
        case corrupt
    }

    /// The extension's name in `Sec-WebSocket-Extensions`.
    static let name = "permessage-deflate"

    /// How the server compresses.
    let configuration: Configuration
    /// Whether the client resets its compressor after each message, so the inflater is dropped after each one too.
    let clientNoContextTakeover: Bool
    /// The largest LZ77 window, in bits (9...15), the server compresses with: the client's `server_max_window_bits`.
    let serverMaxWindowBits: Int32
    /// The window, in bits (9...15), the inflater is created with: 15 unless the client promised a smaller one.
    let inflateWindowBits: Int32

    /// The inflater, between messages only when the client keeps its context; nil until the first compressed message.
    private var inflater: ZlibDecompressor?
    private let allocator = ByteBufferAllocator()

    /// Whether zlib inflate state is allocated right now (for tests: idle connections should hold none).
    var holdsInflater: Bool { self.inflater != nil }

    /// Makes the codec for what was negotiated; `negotiate(offers:configuration:)` is the usual way in.
    ///
    /// - Parameters:
    ///   - configuration: How the server compresses.
    ///   - clientNoContextTakeover: Whether the client resets its compressor after each message.
    ///   - serverMaxWindowBits: The largest window the server may compress with, 9...15.
    ///   - inflateWindowBits: The window the client compresses with at most, 9...15.
    package init(
        configuration: Configuration,
        clientNoContextTakeover: Bool = false,
        serverMaxWindowBits: Int32 = 15,
        inflateWindowBits: Int32 = 15
    ) {
        self.configuration = configuration
        self.clientNoContextTakeover = clientNoContextTakeover
        self.serverMaxWindowBits = min(max(serverMaxWindowBits, 9), 15)
        self.inflateWindowBits = min(max(inflateWindowBits, 9), 15)
    }

    // MARK: - Negotiation

    /// Accepts the first permessage-deflate offer the server can honour and returns the response's extension value
    /// and the codec for it, or nil when there is none (the connection then goes on without compression).
    ///
    /// An offer is declined, and the next one tried, when it has an unknown or repeated parameter, a value where none
    /// belongs or a window size outside 8...15, or asks for `server_max_window_bits=8` (zlib cannot deflate raw with
    /// a 256-byte window). The response always has `server_no_context_takeover`, echoes `client_no_context_takeover`
    /// and `server_max_window_bits`, and answers a `client_max_window_bits` that has a value with that value.
    ///
    /// - Parameters:
    ///   - offers: The values of the request's `Sec-WebSocket-Extensions` fields, each a comma-separated list.
    ///   - configuration: How the server compresses.
    /// - Returns: The value for the response's `Sec-WebSocket-Extensions` field and the codec, or nil.
    static func negotiate(
        offers: [String],
        configuration: Configuration
    ) -> (response: String, codec: PerMessageDeflate)? {
        for field in offers {
            for element in Self.extensions(in: field) {
                guard let element, element.name.lowercased() == Self.name,
                    let accepted = Accepted(parameters: element.parameters)
                else { continue }
                let codec = PerMessageDeflate(
                    configuration: configuration,
                    clientNoContextTakeover: accepted.clientNoContextTakeover,
                    serverMaxWindowBits: accepted.serverMaxWindowBits ?? 15,
                    // A client that asked for 8 may deflate with 9: zlib turns a window of 8 into 9.
                    inflateWindowBits: accepted.clientMaxWindowBits.map { max($0, 9) } ?? 15
                )
                return (accepted.response, codec)
            }
        }
        return nil
    }

    /// The parameters of one acceptable offer.
    private struct Accepted {
        var clientNoContextTakeover = false
        var serverMaxWindowBits: Int32?
        var clientMaxWindowBits: Int32?

        /// Validates an offer's parameters; nil declines it.
        init?(parameters: [(name: String, value: String?)]) {
            var seen: Set<String> = []
            for (name, value) in parameters {
                let name = name.lowercased()
                guard seen.insert(name).inserted else { return nil }
                switch name {
                case "server_no_context_takeover":
                    guard value == nil else { return nil }
                case "client_no_context_takeover":
                    guard value == nil else { return nil }
                    self.clientNoContextTakeover = true
                case "server_max_window_bits":
                    // zlib refuses raw deflate with a window of 8 bits.
                    guard let value, let bits = Self.windowBits(value), bits >= 9 else { return nil }
                    self.serverMaxWindowBits = bits
                case "client_max_window_bits":
                    // Without a value the client only says it understands the parameter: the server leaves it out.
                    if let value {
                        guard let bits = Self.windowBits(value) else { return nil }
                        self.clientMaxWindowBits = bits
                    }
                default:
                    return nil
                }
            }
        }

        /// A window size as RFC 7692 writes it: a decimal 8...15 without leading zeros.
        private static func windowBits(_ value: String) -> Int32? {
            guard let first = value.utf8.first, first != UInt8(ascii: "0"), value.utf8.count <= 2,
                value.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
                let bits = Int32(value), (8...15).contains(bits)
            else { return nil }
            return bits
        }

        /// The extension value the server answers with.
        var response: String {
            var response = "\(PerMessageDeflate.name); server_no_context_takeover"
            if self.clientNoContextTakeover {
                response += "; client_no_context_takeover"
            }
            if let bits = self.serverMaxWindowBits {
                response += "; server_max_window_bits=\(bits)"
            }
            if let bits = self.clientMaxWindowBits {
                response += "; client_max_window_bits=\(bits)"
            }
            return response
        }
    }

    /// One extension of a `Sec-WebSocket-Extensions` list: `name *( ";" param [ "=" ( token / quoted-string ) ] )`.
    private struct ExtensionElement {
        var name: String
        /// The parameters in order, a quoted value unescaped, nil for a parameter without a value.
        var parameters: [(name: String, value: String?)]
    }

    /// Splits a field value into its extensions (RFC 6455 §9.1), nil for one that does not parse; empty list elements
    /// are skipped and a comma inside a quoted string does not split.
    private static func extensions(in field: String) -> [ExtensionElement?] {
        var scanner = Scanner(bytes: Array(field.utf8))
        var elements: [ExtensionElement?] = []
        while true {
            scanner.skipWhitespace()
            guard let byte = scanner.peek else { break }
            if byte == UInt8(ascii: ",") {
                scanner.index += 1
                continue
            }
            if let element = scanner.element() {
                elements.append(element)
            } else {
                elements.append(nil)
                scanner.skipElement()
            }
        }
        return elements
    }

    /// Reads the `Sec-WebSocket-Extensions` grammar byte by byte.
    private struct Scanner {
        let bytes: [UInt8]
        var index = 0

        var peek: UInt8? { self.index < self.bytes.count ? self.bytes[self.index] : nil }

        mutating func skipWhitespace() {
            while let byte = self.peek, byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") {
                self.index += 1
            }
        }

        /// Reads one extension up to and including the comma that ends it; nil when it does not parse.
        mutating func element() -> ExtensionElement? {
            guard let name = self.token() else { return nil }
            var element = ExtensionElement(name: name, parameters: [])
            while true {
                self.skipWhitespace()
                guard let byte = self.peek else { return element }
                if byte == UInt8(ascii: ",") {
                    self.index += 1
                    return element
                }
                guard byte == UInt8(ascii: ";") else { return nil }
                self.index += 1
                self.skipWhitespace()
                guard let parameter = self.token() else { return nil }
                self.skipWhitespace()
                var value: String?
                if self.peek == UInt8(ascii: "=") {
                    self.index += 1
                    self.skipWhitespace()
                    value = self.peek == UInt8(ascii: "\"") ? self.quotedString() : self.token()
                    guard value != nil else { return nil }
                }
                element.parameters.append((parameter, value))
            }
        }

        /// Skips the rest of an element that did not parse, past the next comma outside a quoted string.
        mutating func skipElement() {
            var quoted = false
            while let byte = self.peek {
                self.index += 1
                if quoted, byte == UInt8(ascii: "\\") {
                    self.index += 1
                } else if byte == UInt8(ascii: "\"") {
                    quoted.toggle()
                } else if !quoted, byte == UInt8(ascii: ",") {
                    return
                }
            }
        }

        /// An RFC 9110 token: one or more of the letters, digits and ``!#$%&'*+-.^_`|~``.
        private mutating func token() -> String? {
            let start = self.index
            while let byte = self.peek, Self.isTokenByte(byte) {
                self.index += 1
            }
            guard self.index > start else { return nil }
            return String(decoding: self.bytes[start..<self.index], as: UTF8.self)
        }

        /// An RFC 9110 quoted string, unescaped; nil when it is unterminated or holds a control character (read to
        /// its closing quote all the same, so that a comma inside it does not start another element).
        private mutating func quotedString() -> String? {
            self.index += 1
            var value: [UInt8] = []
            var valid = true
            while let byte = self.peek {
                self.index += 1
                switch byte {
                case UInt8(ascii: "\""):
                    return valid ? String(decoding: value, as: UTF8.self) : nil
                case UInt8(ascii: "\\"):
                    guard let escaped = self.peek else { return nil }
                    self.index += 1
                    valid = valid && Self.isQuotable(escaped)
                    value.append(escaped)
                default:
                    valid = valid && Self.isQuotable(byte)
                    value.append(byte)
                }
            }
            return nil
        }

        private static func isTokenByte(_ byte: UInt8) -> Bool {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"):
                true
            default:
                "!#$%&'*+-.^_`|~".utf8.contains(byte)
            }
        }

        /// Whether a byte may stand in a quoted string: tab, space, visible ASCII and obs-text.
        private static func isQuotable(_ byte: UInt8) -> Bool {
            byte == UInt8(ascii: "\t") || (byte >= 0x20 && byte != 0x7F)
        }
    }

    // MARK: - Inflating

    /// The bytes a sync flush ends with, which the sender strips from each message and the receiver puts back
    /// (RFC 7692 §7.2.1, §7.2.2).
    private static let flushTail: [UInt8] = [0x00, 0x00, 0xFF, 0xFF]

    /// The most zlib may write past `maxSize` before inflating stops: the zip-bomb bound is `maxSize` plus this.
    private static let inflateChunkSize = 16 * 1024

    /// Inflates one compressed message.
    ///
    /// - Parameters:
    ///   - payload: The whole message as sent: every fragment's payload, in order (RSV1 was set on the first).
    ///   - maxSize: The most bytes the message may inflate to. zlib is never handed room for more than `maxSize`
    ///     plus 16 KiB and the message's buffer never grows past `maxSize` (rounded up to a power of two, as
    ///     ByteBuffer's capacity is), so a small payload that inflates to gigabytes costs no more than that.
    /// - Returns: The message.
    /// - Throws: ``InflateError``; the connection must then be failed.
    package func inflate(_ payload: ByteBuffer, maxSize: Int) throws(InflateError) -> ByteBuffer {
        var input = payload
        input.writeBytes(Self.flushTail)
        do throws(InflateError) {
            let (message, streamEnded) = try self.inflateStream(&input, maxSize: maxSize)
            // A message that ended with a final block ended the stream: the next one starts a new one.
            if self.clientNoContextTakeover || streamEnded {
                self.inflater = nil
            }
            return message
        } catch {
            self.inflater = nil
            throw error
        }
    }

    /// What one call into zlib's inflate came to.
    private enum InflateStep {
        /// The output was filled; there may be more.
        case outputFull
        /// All the input was used and nothing more can come out of it.
        case needsInput
        /// All the input was used, or the stream ended (a final block) with input left over.
        case returned
    }

    /// Inflates `input` into a new buffer; `streamEnded` tells whether the DEFLATE stream ended with a final block.
    private func inflateStream(
        _ input: inout ByteBuffer,
        maxSize: Int
    ) throws(InflateError) -> (message: ByteBuffer, streamEnded: Bool) {
        var inflater = try self.currentInflater()
        let ceiling = maxSize > Int.max - Self.inflateChunkSize ? Int.max : maxSize + Self.inflateChunkSize
        // Text inflates to a few times its compressed size; the buffer doubles from there, a power of two as
        // ByteBuffer's capacity always is, never past the ceiling.
        var capacity = 256
        while capacity < input.readableBytes * 4, capacity <= ceiling / 2 {
            capacity *= 2
        }
        var output = self.allocator.buffer(capacity: capacity)
        var firstStep = true
        while true {
            if output.writableBytes == 0, output.capacity <= ceiling / 2 {
                output.reserveCapacity(output.capacity * 2)
            }
            let inputBefore = input.readableBytes
            let outputBefore = output.readableBytes
            let step: InflateStep
            if output.writableBytes > 0, output.capacity <= ceiling {
                step = try Self.step(inflater, from: &input, to: &output)
            } else {
                // Near the limit: a chunk at a time, so zlib never writes more than a chunk past it.
                var chunk = self.allocator.buffer(capacity: Self.inflateChunkSize)
                step = try Self.step(inflater, from: &input, to: &chunk)
                guard output.readableBytes + chunk.readableBytes <= maxSize else { throw .tooLarge }
                output.writeBuffer(&chunk)
            }
            guard output.readableBytes <= maxSize else { throw .tooLarge }
            switch step {
            case .outputFull:
                guard input.readableBytes < inputBefore || output.readableBytes > outputBefore else {
                    throw .corrupt
                }
            case .needsInput:
                return (output, false)
            case .returned where input.readableBytes == 0:
                return (output, false)
            case .returned:
                if firstStep, input.readableBytes == inputBefore, output.readableBytes == 0 {
                    // The stream had already ended, its final block completed by the last message's flush tail.
                    self.inflater = nil
                    inflater = try self.currentInflater()
                } else {
                    return (output, true)
                }
            }
            firstStep = false
        }
    }

    /// The inflater, made now if there is none.
    private func currentInflater() throws(InflateError) -> ZlibDecompressor {
        if let inflater = self.inflater {
            return inflater
        }
        do {
            let inflater = try ZlibDecompressor(algorithm: .deflate, windowSize: self.inflateWindowBits)
            self.inflater = inflater
            return inflater
        } catch {
            throw .corrupt
        }
    }

    /// One call into zlib's inflate, its outcome sorted out of CompressNIO's errors.
    private static func step(
        _ inflater: ZlibDecompressor,
        from input: inout ByteBuffer,
        to output: inout ByteBuffer
    ) throws(InflateError) -> InflateStep {
        do {
            try inflater.inflate(from: &input, to: &output)
            return .returned
        } catch let error as CompressNIOError where error == .bufferOverflow {
            return .outputFull
        } catch let error as CompressNIOError where error == .inputBufferOverflow {
            return .needsInput
        } catch {
            throw .corrupt
        }
    }

    // MARK: - Deflating

    /// The shortest distance zlib keeps out of its window's reach (`MIN_LOOKAHEAD`): a window of `1 << bits` bytes
    /// finds matches up to `(1 << bits) - 262` bytes back.
    private static let windowLookahead = 262

    /// Compresses one message the server sends, on its own (server_no_context_takeover).
    ///
    /// A zlib stream is made for the message and freed before this returns: kept, it would hold about 150 KiB (window
    /// 15, memLevel 5) on every idle connection; making and freeing one sized for a message of a few KiB takes about
    /// half a microsecond (zlib 1.2.13, glibc).
    /// Its window is no larger than the message needs, so a small message costs a small stream.
    ///
    /// - Parameter message: The message's payload.
    /// - Returns: The compressed payload, to send with RSV1 set on the first frame; nil to send the message as it is,
    ///   when it is below ``Configuration/compressionThreshold`` or deflating did not make it smaller.
    /// - Throws: `CompressNIOError` when zlib cannot allocate its state.
    package func deflate(_ message: ByteBuffer) throws -> ByteBuffer? {
        let size = message.readableBytes
        guard size >= self.configuration.compressionThreshold else { return nil }
        // A window longer than the message finds nothing more, and costs four times its size.
        var windowBits: Int32 = 9
        while windowBits < self.serverMaxWindowBits, (1 << windowBits) - Self.windowLookahead < size {
            windowBits += 1
        }
        let compressor = try ZlibCompressor(
            algorithm: .deflate,
            configuration: ZlibConfiguration(
                windowSize: windowBits,
                compressionLevel: min(max(self.configuration.compressionLevel, -1), 9),
                memoryLevel: min(max(self.configuration.memoryLevel, 1), 9)
            )
        )
        var input = message
        var output = self.allocator.buffer(capacity: compressor.maxSize(from: input))
        while true {
            if output.writableBytes == 0 {
                output.reserveCapacity(output.capacity * 2)
            }
            do {
                try compressor.deflate(from: &input, to: &output, flush: .sync)
            } catch let error as CompressNIOError where error == .bufferOverflow && input.readableBytes == 0 {
                // Nothing left to do: the flush completed exactly at the end of the last output.
                break
            } catch let error as CompressNIOError where error == .bufferOverflow {
                continue
            }
            // zlib stops a flush when the output is full: it completed only if it left room.
            if input.readableBytes == 0, output.writableBytes > 0 {
                break
            }
        }
        guard output.readableBytes >= 4,
            output.getBytes(at: output.writerIndex - 4, length: 4) == Self.flushTail
        else { throw CompressNIOError.internalError }
        output.moveWriterIndex(to: output.writerIndex - 4)
        guard output.readableBytes < size else { return nil }
        // The buffer was sized for the worst case; a frame waiting in the channel should not hold the rest.
        if output.capacity - output.readableBytes > 4096 {
            output.shrinkBufferCapacity(to: output.readableBytes)
        }
        return output
    }
}
