import NIOCore
import Testing

@testable import TetherServer

@Suite("PerMessageDeflate")
struct PerMessageDeflateTests {
    // MARK: - Negotiation

    /// One row of the negotiation table: the request's `Sec-WebSocket-Extensions` values and the expected answer.
    struct NegotiationCase: Sendable, CustomTestStringConvertible {
        var name: String
        var offers: [String]
        var response: String?

        var testDescription: String { self.name }
    }

    static let plain = "permessage-deflate; server_no_context_takeover"

    static let negotiationCases: [NegotiationCase] = [
        .init(name: "plain offer", offers: ["permessage-deflate"], response: plain),
        .init(
            name: "client_no_context_takeover echoed",
            offers: ["permessage-deflate; client_no_context_takeover"],
            response: "\(plain); client_no_context_takeover"
        ),
        .init(
            name: "server_max_window_bits=10 honoured",
            offers: ["permessage-deflate; server_max_window_bits=10"],
            response: "\(plain); server_max_window_bits=10"
        ),
        .init(
            name: "server_no_context_takeover offered",
            offers: ["permessage-deflate; server_no_context_takeover"],
            response: plain
        ),
        .init(
            name: "client_max_window_bits without a value left out",
            offers: ["permessage-deflate; client_max_window_bits"],
            response: plain
        ),
        .init(
            name: "client_max_window_bits with a value echoed",
            offers: ["permessage-deflate; client_max_window_bits=12"],
            response: "\(plain); client_max_window_bits=12"
        ),
        .init(
            name: "every parameter",
            offers: [
                "permessage-deflate; client_max_window_bits=9; server_max_window_bits=15; client_no_context_takeover;"
                    + " server_no_context_takeover"
            ],
            response: "\(plain); client_no_context_takeover; server_max_window_bits=15; client_max_window_bits=9"
        ),
        .init(
            name: "unknown parameter declined, later offer in the same field chosen",
            offers: ["permessage-deflate; x_unknown, permessage-deflate; client_no_context_takeover"],
            response: "\(plain); client_no_context_takeover"
        ),
        .init(
            name: "unknown parameter declined, offer in a later field chosen",
            offers: ["permessage-deflate; x_unknown=1", "permessage-deflate; server_max_window_bits=12"],
            response: "\(plain); server_max_window_bits=12"
        ),
        .init(
            name: "duplicated parameter declined",
            offers: ["permessage-deflate; client_no_context_takeover; client_no_context_takeover, permessage-deflate"],
            response: plain
        ),
        .init(
            name: "duplicated window bits declined",
            offers: ["permessage-deflate; server_max_window_bits=10; server_max_window_bits=10, permessage-deflate"],
            response: plain
        ),
        .init(
            name: "server_max_window_bits=8 declined: zlib cannot deflate raw with it",
            offers: ["permessage-deflate; server_max_window_bits=8, permessage-deflate; server_max_window_bits=9"],
            response: "\(plain); server_max_window_bits=9"
        ),
        .init(
            name: "server_max_window_bits out of range or malformed declined",
            offers: [
                "permessage-deflate; server_max_window_bits=16", "permessage-deflate; server_max_window_bits=7",
                "permessage-deflate; server_max_window_bits=010", "permessage-deflate; server_max_window_bits",
                "permessage-deflate; server_max_window_bits=ten", "permessage-deflate; server_max_window_bits=",
                "permessage-deflate; server_max_window_bits=+9", "permessage-deflate",
            ],
            response: plain
        ),
        .init(
            name: "client_max_window_bits out of range declined",
            offers: ["permessage-deflate; client_max_window_bits=16, permessage-deflate; client_max_window_bits=0"],
            response: nil
        ),
        .init(
            name: "client_max_window_bits=8 accepted",
            offers: ["permessage-deflate; client_max_window_bits=8"],
            response: "\(plain); client_max_window_bits=8"
        ),
        .init(
            name: "a value on a flag declined",
            offers: [
                "permessage-deflate; client_no_context_takeover=1",
                "permessage-deflate; server_no_context_takeover=\"\"",
            ],
            response: nil
        ),
        .init(
            name: "two extensions in one field",
            offers: ["x-webkit-deflate-frame, permessage-deflate; client_max_window_bits"],
            response: plain
        ),
        .init(
            name: "quoted values",
            offers: ["permessage-deflate; server_max_window_bits=\"10\"; client_max_window_bits=\"1\\1\""],
            response: "\(plain); server_max_window_bits=10; client_max_window_bits=11"
        ),
        .init(
            name: "a comma inside another extension's quoted value",
            offers: ["x-other; note=\"a, permessage-deflate\", permessage-deflate; client_no_context_takeover"],
            response: "\(plain); client_no_context_takeover"
        ),
        .init(
            name: "an unterminated quote declines the rest of its field only",
            offers: ["permessage-deflate; server_max_window_bits=\"10, permessage-deflate", "permessage-deflate"],
            response: plain
        ),
        .init(
            name: "a control character in a quoted value declines that offer only",
            offers: ["permessage-deflate; server_max_window_bits=\"1\u{1}0\", permessage-deflate"],
            response: plain
        ),
        .init(
            name: "whitespace, empty list elements and case",
            offers: [" ,, PerMessage-Deflate \t;  Client_No_Context_Takeover ,"],
            response: "\(plain); client_no_context_takeover"
        ),
        .init(
            name: "malformed elements declined",
            offers: [
                "permessage-deflate;", "permessage-deflate; ; client_no_context_takeover", "permessage-deflate x",
                "permessage-deflate; =10", "permessage-deflate; a=\"b\"c", "\"permessage-deflate\"",
            ],
            response: nil
        ),
        .init(name: "no offer", offers: [], response: nil),
        .init(name: "empty field", offers: [""], response: nil),
        .init(name: "another extension only", offers: ["x-webkit-deflate-frame"], response: nil),
        .init(name: "only an unacceptable offer", offers: ["permessage-deflate; x_unknown"], response: nil),
    ]

    @Test(arguments: negotiationCases)
    func negotiation(_ row: NegotiationCase) {
        let negotiated = PerMessageDeflate.negotiate(offers: row.offers, configuration: .init())
        #expect(negotiated?.response == row.response)
    }

    @Test func negotiatedCodecFollowsTheChosenOffer() throws {
        let configuration = PerMessageDeflate.Configuration(
            compressionThreshold: 10,
            compressionLevel: 1,
            memoryLevel: 2
        )
        let plain = try Self.codec("permessage-deflate", configuration)
        #expect(plain.configuration == configuration)
        #expect(!plain.clientNoContextTakeover)
        #expect(plain.serverMaxWindowBits == 15)
        #expect(plain.inflateWindowBits == 15)

        let restricted = try Self.codec(
            "permessage-deflate; x, permessage-deflate; client_no_context_takeover; server_max_window_bits=10;"
                + " client_max_window_bits=12"
        )
        #expect(restricted.clientNoContextTakeover)
        #expect(restricted.serverMaxWindowBits == 10)
        #expect(restricted.inflateWindowBits == 12)

        // zlib deflates with 9 bits when asked for 8: the inflater takes 9 to read what such a client sends.
        #expect(try Self.codec("permessage-deflate; client_max_window_bits=8").inflateWindowBits == 9)
        #expect(try Self.codec("permessage-deflate; client_max_window_bits").inflateWindowBits == 15)
    }

    // MARK: - Inflating: RFC 7692 §7.2.3

    /// RFC 7692 §7.2.3's compressed forms of "Hello".
    static let rfcHellos: [(String, [UInt8])] = [
        ("§7.2.3.1 one message", [0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00]),
        ("§7.2.3.3 no compression", [0x00, 0x05, 0x00, 0xFA, 0xFF, 0x48, 0x65, 0x6C, 0x6C, 0x6F, 0x00]),
        ("§7.2.3.4 BFINAL set", [0xF3, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00, 0x00]),
        (
            "§7.2.3.5 two blocks",
            [0xF2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xCA, 0xC9, 0xC9, 0x07, 0x00]
        ),
    ]

    @Test(arguments: rfcHellos)
    func rfcExampleInflatesToHello(_ name: String, _ payload: [UInt8]) throws {
        let codec = try Self.codec("permessage-deflate")
        #expect(try codec.inflate(ByteBuffer(bytes: payload), maxSize: 1024) == ByteBuffer(string: "Hello"))
        // And again: the inflater is in a state to take the next message.
        #expect(try codec.inflate(ByteBuffer(bytes: payload), maxSize: 1024) == ByteBuffer(string: "Hello"))
    }

    @Test func rfcContextTakeoverExample() throws {
        let codec = try Self.codec("permessage-deflate")
        #expect(!codec.holdsInflater)
        #expect(try codec.inflate(ByteBuffer(bytes: Self.hello), maxSize: 1024) == ByteBuffer(string: "Hello"))
        #expect(codec.holdsInflater)
        // §7.2.3.2: the second "Hello" is a back-reference into the first message.
        #expect(try codec.inflate(ByteBuffer(bytes: Self.helloAgain), maxSize: 1024) == ByteBuffer(string: "Hello"))
    }

    @Test func clientNoContextTakeoverResetsTheInflaterAfterEachMessage() throws {
        let codec = try Self.codec("permessage-deflate; client_no_context_takeover")
        #expect(try codec.inflate(ByteBuffer(bytes: Self.hello), maxSize: 1024) == ByteBuffer(string: "Hello"))
        #expect(!codec.holdsInflater)
        // Without the first message's window, §7.2.3.2's back-reference points before the start.
        #expect(throws: PerMessageDeflate.InflateError.corrupt) {
            try codec.inflate(ByteBuffer(bytes: Self.helloAgain), maxSize: 1024)
        }
    }

    @Test func clientMessagesSharingTheirWindow() throws {
        // Three messages from one zlib stream (level 6, window 15), each sync-flushed with its tail stripped: the
        // second and third are mostly back-references into the ones before.
        let messages = [
            #"{"type":"subscribe","channel":"prices","symbols":["AAPL","MSFT","GOOG"]}"#,
            #"{"type":"subscribe","channel":"trades","symbols":["AAPL","MSFT","GOOG"]}"#,
            #"{"type":"unsubscribe","channel":"prices","symbols":["AAPL","MSFT","GOOG"]}"#,
        ]
        let payloads: [[UInt8]] = [
            [
                0xAA, 0x56, 0x2A, 0xA9, 0x2C, 0x48, 0x55, 0xB2, 0x52, 0x2A, 0x2E, 0x4D, 0x2A, 0x4E, 0x2E, 0xCA, 0x4C,
                0x4A, 0x55, 0xD2, 0x51, 0x4A, 0xCE, 0x48, 0xCC, 0xCB, 0x4B, 0xCD, 0x01, 0x8A, 0x16, 0x14, 0x65, 0x26,
                0xA7, 0x16, 0x03, 0x85, 0x8A, 0x2B, 0x73, 0x93, 0xF2, 0x73, 0x8A, 0x95, 0xAC, 0xA2, 0x95, 0x1C, 0x1D,
                0x03, 0x7C, 0x80, 0x22, 0xBE, 0xC1, 0x6E, 0x21, 0x40, 0xCA, 0xDD, 0xDF, 0xDF, 0x5D, 0x29, 0xB6, 0x16,
                0x00,
            ],
            [0xAA, 0xC6, 0x6F, 0x4E, 0x49, 0x51, 0x62, 0x0A, 0x51, 0xE6, 0x00, 0x00],
            [0x82, 0x9B, 0x53, 0x9A, 0x47, 0xA1, 0x8B, 0x00, 0x00],
        ]
        let codec = try Self.codec("permessage-deflate")
        for (message, payload) in zip(messages, payloads) {
            #expect(try codec.inflate(ByteBuffer(bytes: payload), maxSize: 1024) == ByteBuffer(string: message))
        }
    }

    @Test func aFinalBlockStartsANewStreamForTheNextMessage() throws {
        let codec = try Self.codec("permessage-deflate")
        // §7.2.3.4: the final block ends the stream, with input left over.
        let final: [UInt8] = [0xF3, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00, 0x00]
        #expect(try codec.inflate(ByteBuffer(bytes: final), maxSize: 1024) == ByteBuffer(string: "Hello"))
        #expect(try codec.inflate(ByteBuffer(bytes: Self.hello), maxSize: 1024) == ByteBuffer(string: "Hello"))
        // A final stored block whose length and its complement are the flush tail ends the stream with nothing left
        // over: the next message still starts a new one.
        #expect(try codec.inflate(ByteBuffer(bytes: [0x01]), maxSize: 1024) == ByteBuffer())
        #expect(try codec.inflate(ByteBuffer(bytes: Self.hello), maxSize: 1024) == ByteBuffer(string: "Hello"))
    }

    @Test func emptyMessage() throws {
        let codec = try Self.codec("permessage-deflate")
        #expect(try codec.inflate(ByteBuffer(bytes: [0x00]), maxSize: 0) == ByteBuffer())
        #expect(try codec.inflate(ByteBuffer(bytes: [0x02, 0x00]), maxSize: 0) == ByteBuffer())
    }

    // MARK: - Inflating: limits and bad input

    @Test func zipBombStopsAtTheLimit() throws {
        let sender = try Self.codec("permessage-deflate", .init(compressionThreshold: 0))
        let bomb = try #require(try sender.deflate(ByteBuffer(repeating: 0, count: 10 * 1024 * 1024)))
        #expect(bomb.readableBytes < 16 * 1024)
        // The compressed frame does not keep the 10 MiB buffer deflateBound asked for.
        #expect(bomb.capacity < 64 * 1024)

        for takeover in [true, false] {
            let offer = takeover ? "permessage-deflate" : "permessage-deflate; client_no_context_takeover"
            let receiver = try Self.codec(offer)
            #expect(throws: PerMessageDeflate.InflateError.tooLarge) {
                try receiver.inflate(bomb, maxSize: 1024 * 1024)
            }
            #expect(!receiver.holdsInflater)
        }
    }

    @Test func maxSizeIsInclusive() throws {
        let sender = try Self.codec("permessage-deflate")
        let message = Self.text(count: 100_000)
        let compressed = try #require(try sender.deflate(message))
        let receiver = try Self.codec("permessage-deflate")
        #expect(try receiver.inflate(compressed, maxSize: 100_000) == message)
        #expect(try receiver.inflate(compressed, maxSize: .max) == message)
        #expect(throws: PerMessageDeflate.InflateError.tooLarge) {
            try receiver.inflate(compressed, maxSize: 99_999)
        }
        #expect(throws: PerMessageDeflate.InflateError.tooLarge) {
            try receiver.inflate(ByteBuffer(bytes: Self.hello), maxSize: 4)
        }
    }

    @Test(arguments: [
        [0xFF, 0xFF, 0xFF, 0xFF] as [UInt8],  // reserved block type
        [0x00, 0x05, 0x00, 0x00, 0x00],  // stored block whose length's complement is wrong
        [0xF2, 0x00, 0x11, 0x00, 0x00],  // a back-reference before the start of the stream
    ])
    func corruptData(_ payload: [UInt8]) throws {
        let codec = try Self.codec("permessage-deflate")
        #expect(throws: PerMessageDeflate.InflateError.corrupt) {
            try codec.inflate(ByteBuffer(bytes: payload), maxSize: 1024)
        }
        #expect(!codec.holdsInflater)
    }

    // MARK: - Round trips

    @Test(arguments: [false, true])
    func roundTrips(clientNoContextTakeover: Bool) throws {
        let offer = "permessage-deflate" + (clientNoContextTakeover ? "; client_no_context_takeover" : "")
        let server = try Self.codec(offer)
        let peer = try Self.codec(offer)
        let messages = [
            Self.text(count: 256), Self.text(count: 300), Self.text(count: 5_000), Self.text(count: 70_000),
            Self.text(count: 1_000_000), Self.text(count: 300), ByteBuffer(repeating: 7, count: 40_000),
        ]
        for message in messages {
            let compressed = try #require(try server.deflate(message))
            #expect(compressed.readableBytes < message.readableBytes)
            #expect(try peer.inflate(compressed, maxSize: 1 << 20) == message)
            #expect(peer.holdsInflater == !clientNoContextTakeover)
            // server_no_context_takeover: every message inflates on its own, too.
            #expect(try Self.codec("permessage-deflate").inflate(compressed, maxSize: 1 << 20) == message)
        }
        #expect(!server.holdsInflater)
    }

    @Test func serverMaxWindowBitsIsHonoured() throws {
        // 1 KiB of noise and 1 KiB of zeros, 16 times: only a window of more than 2 KiB finds the noise again.
        var message = ByteBuffer()
        let noise = Self.noise(count: 1024)
        for _ in 0..<16 {
            message.writeImmutableBuffer(noise)
            message.writeRepeatingByte(0, count: 1024)
        }
        let offer = "permessage-deflate; server_max_window_bits=10; client_max_window_bits=10"
        let narrow = try Self.codec(offer)
        #expect(narrow.serverMaxWindowBits == 10)
        #expect(narrow.inflateWindowBits == 10)
        // Inflated with a 10-bit window, which fails on a reference further back than it reaches.
        let narrowlyCompressed = try #require(try narrow.deflate(message))
        #expect(try narrow.inflate(narrowlyCompressed, maxSize: 1 << 20) == message)
        #expect(narrowlyCompressed.readableBytes > 16 * 1024)

        let wide = try Self.codec("permessage-deflate")
        let widelyCompressed = try #require(try wide.deflate(message))
        #expect(widelyCompressed.readableBytes < 2048)
        #expect(try wide.inflate(widelyCompressed, maxSize: 1 << 20) == message)
        #expect(throws: PerMessageDeflate.InflateError.corrupt) {
            try narrow.inflate(widelyCompressed, maxSize: 1 << 20)
        }
    }

    @Test func smallOrIncompressibleMessagesGoUncompressed() throws {
        let codec = try Self.codec("permessage-deflate")
        #expect(try codec.deflate(Self.text(count: 255)) == nil)
        #expect(try codec.deflate(Self.text(count: 256)) != nil)
        #expect(try codec.deflate(ByteBuffer()) == nil)
        #expect(try codec.deflate(Self.noise(count: 4096)) == nil)

        let lowered = try Self.codec("permessage-deflate", .init(compressionThreshold: 10))
        #expect(try lowered.deflate(ByteBuffer(string: "aaaaaaaaa")) == nil)
        let tiny = try #require(try lowered.deflate(ByteBuffer(string: "aaaaaaaaaaaaaaaaaaaa")))
        #expect(try lowered.inflate(tiny, maxSize: 20) == ByteBuffer(string: "aaaaaaaaaaaaaaaaaaaa"))
    }

    @Test(arguments: [(Int32(1), Int32(1)), (9, 9), (-1, 8), (-5, 42)])
    func compressionSettings(level: Int32, memoryLevel: Int32) throws {
        let configuration = PerMessageDeflate.Configuration(compressionLevel: level, memoryLevel: memoryLevel)
        let codec = try Self.codec("permessage-deflate", configuration)
        let message = Self.text(count: 20_000)
        let compressed = try #require(try codec.deflate(message))
        #expect(try codec.inflate(compressed, maxSize: 20_000) == message)
    }

    @Test func levelZeroStoresSoSendsUncompressed() throws {
        let codec = try Self.codec("permessage-deflate", .init(compressionLevel: 0))
        #expect(try codec.deflate(Self.text(count: 20_000)) == nil)
    }

    // MARK: - Helpers

    /// §7.2.3.1's "Hello".
    static let hello: [UInt8] = [0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00]
    /// §7.2.3.2's second "Hello", which refers back into the first.
    static let helloAgain: [UInt8] = [0xF2, 0x00, 0x11, 0x00, 0x00]

    /// The codec negotiated for a single offer.
    static func codec(
        _ offer: String,
        _ configuration: PerMessageDeflate.Configuration = .init()
    ) throws -> PerMessageDeflate {
        try #require(PerMessageDeflate.negotiate(offers: [offer], configuration: configuration)).codec
    }

    /// JSON-like text that compresses as chat and API traffic does.
    static func text(count: Int) -> ByteBuffer {
        var buffer = ByteBuffer()
        var index = 0
        while buffer.readableBytes < count {
            buffer.writeString(#"{"id":\#(index),"user":"user\#(index * 7 % 1000)","active":\#(index % 3 == 0)},"#)
            index += 1
        }
        buffer.moveWriterIndex(to: count)
        return buffer
    }

    /// Bytes that do not compress, the same on every run.
    static func noise(count: Int) -> ByteBuffer {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        var buffer = ByteBuffer()
        for _ in 0..<count {
            // SplitMix64
            state &+= 0x9E37_79B9_7F4A_7C15
            var mixed = state
            mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
            mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
            buffer.writeInteger(UInt8(truncatingIfNeeded: mixed ^ (mixed >> 31)))
        }
        return buffer
    }
}
