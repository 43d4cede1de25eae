import Foundation
import TestSupport
import Testing
import TetherGateway
import TetherServer

extension SubprocessTests {
    /// HTTP/2 by prior knowledge over real sockets, the client being Tests/Scripts/h2_client.py (the `h2` package,
    /// frame by frame): a stream's reset cancels its handler alone, a client that leaves cancels them all, flow
    /// control holds a handler's writes back, and the server defends itself against rapid resets, CONTINUATION
    /// floods, oversized header lists and too many streams, while serving everyone else.
    ///
    /// One test at a time: each runs a Python client, whose start and frames cost CPU that other suites' timing needs.
    @Suite(.serialized, .timeLimit(.minutes(2))) struct HTTP2OverSocketTests {
        /// The window a client has before it sends any WINDOW_UPDATE (RFC 9113 §6.9.2).
        static let initialWindow = 65_535

        @Test func aResetCancelsItsStreamAloneAndTheConnectionGoesOn() async throws {
            let app = H2TestApp()
            try await withServer(app.application) { port, _ in
                let script = try H2Script("reset-sibling", port: port, ["--slow", "/slow/", "--sibling", "/gate/"])
                defer { app.gate.open() }
                #expect(try await eventually { app.started("/slow/") == 1 && app.started("/gate/") == 1 })
                script.go()
                // The sibling is let through only once the reset has cancelled the slow handler.
                #expect(try await eventually { !app.cancellations("/slow/").isEmpty })
                app.gate.open()
                let report = try await script.report()

                #expect(app.cancellations("/slow/") == [.streamReset], "\(report)")
                #expect(app.cancellations("/gate/").isEmpty, "\(report)")
                let sibling = try #require(report[stream: 3], "\(report)")
                #expect(sibling.status == 200 && sibling.ended && sibling.body == "gate open", "\(report)")
                // A third request after the reset, on the same connection.
                let after = try #require(report[stream: 5], "\(report)")
                #expect(after.status == 200 && after.ended && after.body == "Hello World!", "\(report)")
                #expect(report.goaway == nil && !report.closed && report.error == nil, "\(report)")
                #expect(app.completed("/gate/") == 1 && app.completed("/hello/") == 1)
                #expect(app.versions == [.http2, .http2, .http2])
            }
        }

        /// A client GOAWAY, a FIN and a TCP reset, each with three streams open: every handler is cancelled, for why
        /// the connection ended.
        @Test(arguments: [
            ("goaway", CancellationReason.clientClosed), ("fin", .clientClosed), ("rst", .clientReset),
        ])
        func leavingWithStreamsOpenCancelsThemAll(how: String, expected: CancellationReason) async throws {
            let app = H2TestApp()
            try await withServer(app.application) { port, _ in
                let script = try H2Script("leave", port: port, ["--path", "/slow/", "--streams", "3", "--how", how])
                #expect(try await eventually { app.started("/slow/") == 3 })
                script.go()
                #expect(try await eventually { app.cancellations("/slow/").count == 3 })
                // After a GOAWAY the script keeps its socket open until now.
                script.go()
                let report = try await script.report()
                #expect(app.cancellations("/slow/") == [expected, expected, expected], "\(report)")
                #expect(report.go == true, "\(report)")
                #expect(report.error == nil, "\(report)")
                if how != "rst" {
                    // The server closes its side once the client has gone.
                    #expect(report.closedByServer == true, "\(report)")
                }
            }
        }

        /// A large response to a client that opens no window: the handler's writes wait for it, and go on when the
        /// client reads.
        @Test func flowControlHoldsTheHandlersWritesUntilTheClientReads() async throws {
            let app = H2TestApp()
            try await withServer(app.application) { port, _ in
                let script = try H2Script("flow", port: port, ["--path", "/big/", "--then", "read"], timeout: 30)
                #expect(try await eventually { app.bigSent.value >= Self.windowInChunks })
                // Time to write more, would the writes not wait: what was written is all they will write.
                try await Task.sleep(for: .milliseconds(300))
                let held = app.bigSent.value
                #expect(held <= Self.heldBound, "the handler wrote \(held) bytes to a client with a 64 KiB window")
                #expect(app.completed("/big/") == 0)
                script.go()
                let report = try await script.report()

                // h2 checks the server kept to the window too: it reports DATA past it as an error.
                #expect((1...Self.initialWindow).contains(report.receivedBeforeGo ?? 0), "\(report)")
                let stream = try #require(report[stream: 1], "\(report)")
                #expect(stream.status == 200 && stream.ended, "\(report)")
                #expect(stream.bodyBytes == H2TestApp.bigBytes, "\(report)")
                #expect(report.error == nil, "\(report)")
                #expect(try await eventually { app.completed("/big/") == 1 })
                #expect(app.allCancellations.isEmpty)
            }
        }

        /// What a handler has written once its client's window is full: the whole chunks that fit in it (a write
        /// returns once its chunk is sent, and the last chunk does not fit whole: 4 × 16 KiB is one byte too many).
        static let windowInChunks = initialWindow / H2TestApp.bigChunk * H2TestApp.bigChunk

        /// What a handler may have written while its client's window is shut: the window and a few chunks buffered on
        /// the way; a small part of the 16 MiB it would write.
        static let heldBound = initialWindow + 4 * H2TestApp.bigChunk

        @Test func aStreamResetWhileItsWritesWaitCancelsTheHandler() async throws {
            let app = H2TestApp()
            try await withServer(app.application) { port, _ in
                let script = try H2Script("flow", port: port, ["--path", "/big/", "--then", "reset"])
                #expect(try await eventually { app.bigSent.value >= Self.windowInChunks })
                script.go()
                let report = try await script.report()

                #expect(try await eventually { !app.cancellations("/big/").isEmpty }, "\(report)")
                #expect(app.cancellations("/big/") == [.streamReset], "\(report)")
                #expect(app.bigSent.value < H2TestApp.bigBytes)
                // The connection serves on.
                let after = try #require(report[stream: 3], "\(report)")
                #expect(after.status == 200 && after.body == "Hello World!", "\(report)")
                #expect(report.goaway == nil && report.error == nil, "\(report)")
            }
        }

        /// CVE-2023-44487: a client opening and resetting streams as fast as it can gets GOAWAY(ENHANCE_YOUR_CALM) once
        /// past the limit, and its connection is closed; another client is served meanwhile and afterwards.
        @Test func rapidResetIsStoppedWithEnhanceYourCalm() async throws {
            let app = H2TestApp()
            try await withServer(app.application, configure: { $0.http2.maxResetStreams = 200 }) { port, _ in
                async let other = H2Script.run("request", port: port, ["--path", "/hello/"])
                let report = try await H2Script.run(
                    "rapid-reset", port: port, ["--count", "1000", "--path", "/hello/"])
                #expect(report.goaway?.errorCode == H2ErrorCode.enhanceYourCalm, "\(report)")
                #expect(report.closed, "\(report)")
                #expect((report.sentPairs ?? 0) > 200, "\(report)")

                let meanwhile = try await other
                #expect(
                    meanwhile[stream: 1]?.status == 200 && meanwhile[stream: 1]?.body == "Hello World!", "\(meanwhile)")
                let afterwards = try await H2Script.run("request", port: port, ["--path", "/hello/"])
                #expect(afterwards[stream: 1]?.body == "Hello World!", "\(afterwards)")
            }
        }

        /// CVE-2024-27316: a header block that never ends, CONTINUATION after CONTINUATION, is a connection error.
        @Test func aContinuationFloodIsAConnectionError() async throws {
            let app = H2TestApp()
            try await withServer(app.application) { port, _ in
                let report = try await H2Script.run("continuation", port: port, ["--count", "1000"])
                let goaway = try #require(report.goaway, "\(report)")
                #expect(goaway.errorCode != H2ErrorCode.noError, "\(report)")
                #expect(report.closed, "\(report)")
                #expect(app.started("/hello/") == 0)

                let other = try await H2Script.run("request", port: port, ["--path", "/hello/"])
                #expect(other[stream: 1]?.body == "Hello World!", "\(other)")
            }
        }

        /// With `maxHeadBytes` 4 KiB and `maxHeaderListSize` 8 KiB: a 6,000-byte field is over the head's limit but
        /// within the list's, so its stream alone is answered 431 and the connection serves on.
        @Test func aHeadOverMaxHeadBytesIsAnswered431OnItsStream() async throws {
            let app = H2TestApp()
            try await withServer(app.application, configure: Self.smallHeads) { port, _ in
                let report = try await H2Script.run("header-list", port: port, ["--mode", "size", "--bytes", "6000"])
                let first = try #require(report[stream: 1], "\(report)")
                #expect(first.status == 431 && first.ended, "\(report)")
                let after = try #require(report[stream: 3], "\(report)")
                #expect(after.status == 200 && after.body == "Hello World!", "\(report)")
                #expect(report.goaway == nil && report.error == nil, "\(report)")
                #expect(app.started("/hello/") == 1)
            }
        }

        /// A header list over `maxHeaderListSize`, sent plainly (12,000 bytes) or as an HPACK bomb (one 4,000-byte
        /// field in the dynamic table, referenced a thousand times: 4 MB from a 5 KB block), is a connection error
        /// (NIOHTTP2's decoder stops at the limit: GOAWAY(COMPRESSION_ERROR)), then the close. No handler runs, and
        /// the server serves other connections.
        @Test(arguments: [["--mode", "size", "--bytes", "12000"], ["--mode", "bomb", "--repeat", "1000"]])
        func aHeaderListOverTheLimitIsRefused(arguments: [String]) async throws {
            let app = H2TestApp()
            try await withServer(app.application, configure: Self.smallHeads) { port, _ in
                let report = try await H2Script.run("header-list", port: port, arguments)
                #expect(report.goaway?.errorCode == H2ErrorCode.compressionError, "\(report)")
                #expect(report.closed, "\(report)")
                #expect(report[stream: 1]?.status == nil, "\(report)")
                #expect(app.started("/hello/") == 0)

                let other = try await H2Script.run("request", port: port, ["--path", "/hello/"])
                #expect(other[stream: 1]?.body == "Hello World!", "\(other)")
            }
        }

        static func smallHeads(_ configuration: inout Server.Configuration) {
            configuration.maxHeadBytes = 4096
            configuration.http2.maxHeaderListSize = 8192
        }

        /// A client that opens more streams than it was allowed breaks HTTP/2: NIOHTTP2 1.46 answers it with
        /// GOAWAY(PROTOCOL_ERROR) rather than refusing the one stream (RFC 9113 §5.1.2 asks for a stream error), so the
        /// connection closes and the work of its open streams is cancelled as `protocol_error`. Other clients go on.
        @Test func aClientPastMaxConcurrentStreamsLosesItsConnectionAndOthersAreServed() async throws {
            let app = H2TestApp()
            try await withServer(app.application, configure: { $0.http2.maxConcurrentStreams = 2 }) { port, _ in
                let script = try H2Script("concurrent", port: port, ["--path", "/gate/", "--count", "3"])
                defer { app.gate.open() }
                #expect(try await eventually { app.started("/gate/") >= 1 })
                script.go()
                let report = try await script.report()

                #expect(report.advertisedMaxConcurrentStreams == 2, "\(report)")
                #expect(report.goaway?.errorCode == H2ErrorCode.protocolError, "\(report)")
                #expect(report.closed, "\(report)")
                #expect(try await eventually { app.cancellations("/gate/").count == app.started("/gate/") })
                #expect(app.cancellations("/gate/").allSatisfy { $0 == .protocolError }, "\(app.allCancellations)")
                let other = try await H2Script.run("request", port: port, ["--path", "/hello/"])
                #expect(other[stream: 1]?.status == 200, "\(other)")
            }
        }

        @Test func responseTrailersArriveAsATrailingHeadersFrame() async throws {
            let app = H2TestApp()
            try await withServer(app.application) { port, _ in
                let report = try await H2Script.run("request", port: port, ["--path", "/trailers/"])
                let stream = try #require(report[stream: 1], "\(report)")
                #expect(stream.status == 200 && stream.body == "body" && stream.ended, "\(report)")
                #expect(stream.trailers == ["x-checksum": "abc"], "\(report)")
                // h2 reports a HEADERS frame after the response's as trailers, and the stream ended with it.
                let log = report.log ?? []
                #expect(log.firstIndex(of: "TRAILERS 1").map { $0 + 1 } == log.firstIndex(of: "END_STREAM 1"), "\(log)")
            }
        }

        @Test func aRequestsTrailersAreAcceptedAndItsBodyRead() async throws {
            let app = H2TestApp()
            try await withServer(app.application) { port, _ in
                let report = try await H2Script.run(
                    "request", port: port, ["--path", "/echo/", "--body", "some body", "--trailer", "x-sum:42"])
                let stream = try #require(report[stream: 1], "\(report)")
                #expect(stream.status == 200 && stream.ended && stream.body == "some body", "\(report)")
                #expect(stream.trailers?["x-echo-trailers"] == "x-sum=42", "\(report)")
                #expect(app.completed("/echo/") == 1)
            }
        }

        /// The idle timeout counts from the last stream's end: a request that outlasts it is served.
        @Test func anOpenStreamKeepsTheConnectionFromIdling() async throws {
            let app = H2TestApp()
            try await withServer(app.application, configure: { $0.http2.idleTimeout = .milliseconds(200) }) { port, _ in
                let script = try H2Script("request", port: port, ["--path", "/gate/"])
                defer { app.gate.open() }
                #expect(try await eventually { app.started("/gate/") == 1 })
                // Three idle timeouts with the stream open: a connection that idled would be gone.
                try await Task.sleep(for: .milliseconds(600))
                app.gate.open()
                let report = try await script.report()
                #expect(report[stream: 1]?.body == "gate open", "\(report)")
                // Once the stream has ended the connection may idle (the script leaves at once, but may be slow to).
                let log = report.log ?? []
                let goaway = log.firstIndex { $0.hasPrefix("GOAWAY") }
                #expect(goaway.map { $0 > (log.firstIndex(of: "END_STREAM 1") ?? .max) } ?? true, "\(report)")
                #expect(app.cancellations("/gate/").isEmpty)
            }
        }

        /// A connection without streams for `idleTimeout` (from its start, or from its last stream's end) gets
        /// GOAWAY(NO_ERROR) and is closed.
        @Test(arguments: [nil, "/hello/"])
        func anIdleConnectionGetsGoAwayAndIsClosed(firstPath: String?) async throws {
            let app = H2TestApp()
            try await withServer(app.application, configure: { $0.http2.idleTimeout = .milliseconds(200) }) { port, _ in
                let report = try await H2Script.run("idle", port: port, firstPath.map { ["--path", $0] } ?? [])
                let goaway = try #require(report.goaway, "\(report)")
                #expect(goaway.errorCode == H2ErrorCode.noError, "\(report)")
                #expect(goaway.lastStreamId == (firstPath == nil ? 0 : 1), "\(report)")
                #expect(report.closed && report.closedWithinTimeout == true, "\(report)")
                if firstPath != nil { #expect(report[stream: 1]?.body == "Hello World!", "\(report)") }
            }
        }
    }
}
