import TetherGateway

/// A route's deadline: its handler, and the streamed body it returns, race a timer in a task group.
///
/// When the timer wins, the work is cancelled as a departed client cancels it (the handler's task sees
/// `CancellationError`, a blocking handler's flag is set and its thread awaited), `CancellationReason.current`
/// reads ``CancellationReason/requestDeadline`` inside it, and the route answers 504; once the response has
/// started, the error ends it instead, and the server closes the connection.
enum RouteDeadline {
    /// `handler` for `request`, within `duration` from now.
    static func respond(to request: Request, within duration: Duration, handler: @escaping Handler) async throws
        -> Response
    {
        let deadline = ContinuousClock.now.advanced(by: duration)
        let source = NestedCancellationSource()
        var response = try await self.run(until: deadline, source: source) { try await handler(request) }
        if case .stream(let write) = response.body.storage {
            response.body = ResponseBody(stream: { writer in
                try await self.run(until: deadline, source: source) { try await write(writer) }
            })
        }
        return response
    }

    /// The result of `work`, unless `deadline` passes first: then `work` is cancelled and awaited, and this throws
    /// ``HTTPError`` 504 (or `CancellationError`, when the request itself was cancelled meanwhile).
    private static func run<Value: Sendable>(
        until deadline: ContinuousClock.Instant,
        source: NestedCancellationSource,
        _ work: @escaping @Sendable () async throws -> Value
    ) async throws -> Value {
        try await CancellationReason.$source.withValue(source) {
            try await withThrowingTaskGroup(of: Value?.self) { group in
                group.addTask { try await work() }
                group.addTask {
                    try await Task.sleep(until: deadline, clock: .continuous)
                    return nil
                }
                if let value = try await group.next() ?? nil {
                    group.cancelAll()
                    return value
                }
                // The reason is recorded before the work is cancelled, so that the work reads it when it stops.
                source.cancel(.requestDeadline)
                if source.ownReason == .requestDeadline { RequestObservation.current?.cancelled(.requestDeadline) }
                group.cancelAll()
                _ = try? await group.next()
                try Task.checkCancellation()
                throw HTTPError(.gatewayTimeout, message: "The request took longer than its route allows.")
            }
        }
    }
}
