import NIOCore
import NIOHTTP2
import TetherGateway

extension Server {
    /// Installs HTTP/2 on a connection: NIOHTTP2 with the configured limits, then the connection's own handler;
    /// each stream the client opens gets NIOHTTP2's HTTP/1 codec and a ``ConnectionHandler`` for its one request,
    /// which it hands to the connection's mailbox.
    func makeHTTP2Connection(on channel: any Channel) throws -> Mailbox<PendingRequest> {
        let http2 = self.configuration.http2
        var connectionSettings = NIOHTTP2Handler.ConnectionConfiguration()
        connectionSettings.initialSettings = [
            HTTP2Setting(parameter: .maxConcurrentStreams, value: http2.maxConcurrentStreams),
            HTTP2Setting(parameter: .maxHeaderListSize, value: http2.maxHeaderListSize),
            HTTP2Setting(parameter: .initialWindowSize, value: http2.initialWindowSize),
            // Extended CONNECT, for WebSocket over HTTP/2 (RFC 8441).
            HTTP2Setting(parameter: .enableConnectProtocol, value: 1),
        ]
        connectionSettings.maximumSequentialContinuationFrames = http2.maxContinuationFrames
        var streamSettings = NIOHTTP2Handler.StreamConfiguration()
        streamSettings.targetWindowSize = http2.initialWindowSize
        streamSettings.streamResetFrameRateLimit.maximumCount = http2.maxResetStreams
        streamSettings.streamResetFrameRateLimit.windowLength = http2.resetStreamWindow.timeAmount

        let requests = Mailbox<PendingRequest>()
        let connection = HTTP2ConnectionHandler(configuration: http2, requests: requests)
        let loss = NIOLoopBound(connection.loss, eventLoop: channel.eventLoop)
        let (configuration, metrics) = (self.configuration, self.metrics)
        try channel.pipeline.syncOperations.addHandler(FlushCoalescer())
        _ = try channel.pipeline.syncOperations.configureHTTP2Pipeline(
            mode: .server, connectionConfiguration: connectionSettings, streamConfiguration: streamSettings,
            streamDelegate: connection.streamDelegate(on: channel.eventLoop)
        ) { stream in
            stream.eventLoop.makeCompletedFuture {
                let handlers = stream.pipeline.syncOperations
                let handler = ConnectionHandler(
                    inbox: ConnectionInbox(stream: requests), configuration: configuration, metrics: metrics,
                    stream: loss.value)
                try handlers.addHandler(ConnectionHandler.ExtendedConnect(handler))
                try handlers.addHandler(HTTP2FramePayloadToHTTP1ServerCodec())
                try handlers.addHandler(handler)
            }
        }
        try channel.pipeline.syncOperations.addHandler(connection)
        return requests
    }

    /// Serves an HTTP/2 connection's requests, each in a child task that its stream's reset or the connection's
    /// loss cancels, until the connection closes.
    func serveHTTP2(_ channel: any Channel, _ requests: Mailbox<PendingRequest>, secure: Bool) async {
        await withTaskCancellationHandler {
            await withDiscardingTaskGroup { group in
                while let (head, fields, exchange) = await requests.next() {
                    group.addTask {
                        let isAbandoned = {
                            exchange.cancellationReason != nil || exchange.webSocket?.cancellationReason != nil
                        }
                        await exchange.task.run(isAbandoned: isAbandoned) {
                            if let webSocket = exchange.webSocket {
                                await self.serveWebSocket(
                                    head, fields, exchange, webSocket, on: exchange.channel, secure: secure)
                            } else {
                                await self.serveRequest(
                                    head, fields, exchange, on: exchange.channel, secure: secure, multiplexed: true)
                            }
                        }
                    }
                }
            }
        } onCancel: {
            // The grace period is over: the open streams are cancelled, and the connection closes.
            channel.pipeline.fireUserInboundEventTriggered(ConnectionHandler.GracePeriodExpired())
        }
    }
}
