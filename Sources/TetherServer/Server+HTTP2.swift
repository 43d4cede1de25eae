import NIOCore
import NIOHTTP2
import TetherGateway

extension Server {
    /// Installs HTTP/2 on a connection: NIOHTTP2 with the configured limits, then the connection's own handler;
    /// each stream the client opens gets NIOHTTP2's HTTP/1 codec and a ``ConnectionHandler`` for its one request.
    func makeHTTP2Connection(on channel: any Channel) throws -> NIOHTTP2Handler.AsyncStreamMultiplexer<HTTP2Stream> {
        let http2 = self.configuration.http2
        var settings = NIOHTTP2Handler.Configuration()
        settings.connection.initialSettings = [
            HTTP2Setting(parameter: .maxConcurrentStreams, value: http2.maxConcurrentStreams),
            HTTP2Setting(parameter: .maxHeaderListSize, value: http2.maxHeaderListSize),
            HTTP2Setting(parameter: .initialWindowSize, value: http2.initialWindowSize),
        ]
        settings.connection.maximumSequentialContinuationFrames = http2.maxContinuationFrames
        settings.stream.targetWindowSize = http2.initialWindowSize
        settings.stream.streamResetFrameRateLimit.maximumCount = http2.maxResetStreams
        settings.stream.streamResetFrameRateLimit.windowLength = http2.resetStreamWindow.timeAmount

        let connection = HTTP2ConnectionHandler(configuration: http2)
        let loss = NIOLoopBound(connection.loss, eventLoop: channel.eventLoop)
        let configuration = self.configuration
        let multiplexer = try channel.pipeline.syncOperations.configureAsyncHTTP2Pipeline(
            mode: .server, configuration: settings
        ) { stream in
            stream.eventLoop.makeCompletedFuture {
                let inbox = ConnectionInbox()
                let handlers = stream.pipeline.syncOperations
                try handlers.addHandler(HTTP2FramePayloadToHTTP1ServerCodec())
                try handlers.addHandler(
                    ConnectionHandler(inbox: inbox, configuration: configuration, stream: loss.value))
                return HTTP2Stream(channel: stream, inbox: inbox)
            }
        }
        try channel.pipeline.syncOperations.addHandler(connection)
        return multiplexer
    }

    /// Serves an HTTP/2 connection's streams, each in a child task, until the connection closes.
    func serveHTTP2(
        _ channel: any Channel, _ multiplexer: NIOHTTP2Handler.AsyncStreamMultiplexer<HTTP2Stream>, secure: Bool
    ) async {
        await withTaskCancellationHandler {
            await withDiscardingTaskGroup { group in
                do {
                    for try await stream in multiplexer.inbound {
                        group.addTask { await self.serveStream(stream, secure: secure) }
                    }
                } catch {
                    // The connection failed; its streams learn it through their own channels.
                }
            }
        } onCancel: {
            // The grace period is over: the open streams are cancelled, and the connection closes.
            channel.pipeline.fireUserInboundEventTriggered(ConnectionHandler.GracePeriodExpired())
        }
    }

    /// Serves a stream's one request, in this task, which the stream's reset or the connection's loss cancels.
    private func serveStream(_ stream: HTTP2Stream, secure: Bool) async {
        guard let (head, fields, exchange) = await stream.inbox.requests.next() else { return }
        await stream.inbox.task.run(isAbandoned: { exchange.cancellationReason != nil }) {
            await self.serveRequest(head, fields, exchange, on: stream.channel, secure: secure, multiplexed: true)
        }
    }
}
