import TetherGateway

/// Listens for the client's next event while the request is processed, and cancels the processing when
/// the client leaves.
///
/// This is what Django's ASGI handler lacked (django__django-16603): a `disconnect` after the body must stop
/// the work, not be noticed only after it.
enum DisconnectRace {
    /// How the race ended.
    enum Outcome: Equatable {
        /// Processing finished; the client was there throughout (or left after the response was complete).
        case completed
        /// The client left and processing was cancelled.
        case disconnected
        /// The client sent an event that has no place after the body.
        case unexpected(InboundEvent)
    }

    private enum Leg: Sendable {
        case listened(Result<InboundEvent, any Error>)
        case processed(Result<Void, any Error>)
    }

    /// Runs `process` while listening on `receive`; returns once both have ended.
    ///
    /// Where the server cancels the task itself when the client leaves (``CancelOnDisconnect``), `process` runs
    /// in this task and nothing listens. Rethrows an error of `process` other than those a departed client causes.
    static func run(
        receive: @escaping Receive, serverCancels: Bool, process: @escaping @Sendable () async throws -> Void
    ) async throws -> Outcome {
        if serverCancels {
            return try self.outcome(of: await Result(catching: process))
        }
        let (event, processed) = await withTaskGroup(of: Leg.self) { group in
            group.addTask { .listened(await Result(catching: { try await receive() })) }
            group.addTask { .processed(await Result(catching: { try await process() })) }
            var event: InboundEvent?
            var processed: Result<Void, any Error>?
            while let leg = await group.next() {
                // Whichever ends first, the other is no longer needed: a finished response needs no
                // listener, and an event after the body (disconnect or not) ends the processing.
                group.cancelAll()
                switch leg {
                case .listened(let result): event = try? result.get()
                case .processed(let result): processed = result
                }
            }
            return (event, processed!)
        }
        if let event, event != .disconnect {
            return .unexpected(event)
        }
        return try self.outcome(of: processed)
    }

    /// How the race ended, given how processing ended.
    private static func outcome(of processed: Result<Void, any Error>) throws -> Outcome {
        switch processed {
        case .success:
            return .completed
        case .failure(let error) where error is CancellationError || error is ClientDisconnected:
            return .disconnected
        case .failure(let error):
            throw error
        }
    }
}

extension Result where Failure == any Error {
    /// The result of `body`, caught.
    init(catching body: () async throws -> Success) async {
        do {
            self = .success(try await body())
        } catch {
            self = .failure(error)
        }
    }
}
