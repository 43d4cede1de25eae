import NIOCore
import TestSupport
import Testing
import TetherGateway
import TetherTesting

/// The communicator keeps the event contract as a server would.
@Suite struct CommunicatorTests {
    /// Echoes the body back, in one response.
    static let echo = InlineApplication { _, receive, send in
        var body = ByteBuffer()
        while case .body(var chunk, let more) = try await receive() {
            body.writeBuffer(&chunk)
            if !more { break }
        }
        try await send(.start(status: .ok, headers: [:]))
        try await send(.body(body, more: false))
    }

    @Test func drivesAnApplicationEventByEvent() async throws {
        let communicator = ApplicationCommunicator(Self.echo, scope: httpScope(.post, "/"))
        communicator.send(.body(ByteBuffer(string: "a"), more: true))
        communicator.send(.body(ByteBuffer(string: "b"), more: false))
        #expect(try await communicator.receiveOutput() == .start(status: .ok, headers: [:]))
        #expect(try await communicator.receiveOutput() == .body(ByteBuffer(string: "ab"), more: false))
        try await communicator.wait()
        await #expect(throws: CommunicatorError.applicationFinished) { try await communicator.receiveOutput() }
    }

    @Test func receiveOutputTimesOutWhenTheApplicationSendsNothing() async throws {
        let communicator = ApplicationCommunicator(Self.echo, scope: httpScope(.post, "/"))
        await #expect(throws: CommunicatorError.timedOut(.milliseconds(50))) {
            try await communicator.receiveOutput(timeout: .milliseconds(50))
        }
        #expect(try await communicator.receiveNothing(timeout: .milliseconds(50)))
        #expect(!communicator.isFinished)
    }

    @Test func receiveOutputRethrowsTheApplicationsError() async throws {
        struct Failure: Error, Equatable {}
        let communicator = ApplicationCommunicator(
            InlineApplication { _, _, _ in throw Failure() }, scope: httpScope(.get, "/"))
        await #expect(throws: Failure()) { try await communicator.receiveOutput() }
        await #expect(throws: Failure()) { try await communicator.wait() }
    }

    @Test func receiveReturnsDisconnectOnceTheClientHasGone() async throws {
        let seen = Box<[InboundEvent]>([])
        let app = InlineApplication { _, receive, _ in
            for _ in 0..<3 {
                let event = try await receive()
                seen.mutate { $0.append(event) }
            }
        }
        let communicator = ApplicationCommunicator(app, scope: httpScope(.get, "/"))
        communicator.send(.body(ByteBuffer(), more: false))
        communicator.send(.disconnect)
        try await communicator.wait()
        #expect(seen.value == [.body(ByteBuffer(), more: false), .disconnect, .disconnect])
    }

    @Test func receiveReturnsDisconnectOnceTheResponseIsComplete() async throws {
        let after = Box<InboundEvent?>(nil)
        let app = InlineApplication { _, receive, send in
            _ = try await receive()
            try await send(.start(status: .ok, headers: [:]))
            try await send(.body(ByteBuffer(), more: false))
            after.value = try await receive()
        }
        let communicator = ApplicationCommunicator(app, scope: httpScope(.get, "/"))
        communicator.send(.body(ByteBuffer(), more: false))
        try await communicator.wait()
        #expect(after.value == .disconnect)
    }

    @Test func sendAfterTheClientLeftThrowsClientDisconnected() async throws {
        let thrown = Box<(any Error)?>(nil)
        let app = InlineApplication { _, receive, send in
            let event = try await receive()
            #expect(event == .disconnect)
            do { try await send(.start(status: .ok, headers: [:])) } catch { thrown.value = error }
        }
        let communicator = ApplicationCommunicator(app, scope: httpScope(.get, "/"))
        communicator.send(.disconnect)
        try await communicator.wait()
        #expect(thrown.value is ClientDisconnected)
        #expect(try await communicator.receiveNothing(timeout: .milliseconds(10)))
    }

    @Test func sendingOutOfOrderIsAProtocolError() async throws {
        let app = InlineApplication { _, _, send in
            try await send(.body(ByteBuffer(), more: false))
        }
        let communicator = ApplicationCommunicator(app, scope: httpScope(.get, "/"))
        await #expect(throws: ProtocolError.self) { try await communicator.wait() }
    }

    @Test func waitCancelsAnApplicationThatDoesNotFinish() async throws {
        let cancelled = Box(false)
        let app = InlineApplication { _, receive, _ in
            do { _ = try await receive() } catch is CancellationError { cancelled.value = true }
        }
        let communicator = ApplicationCommunicator(app, scope: httpScope(.get, "/"))
        await #expect(throws: CommunicatorError.timedOut(.milliseconds(50))) {
            try await communicator.wait(timeout: .milliseconds(50))
        }
        try await communicator.wait(timeout: .seconds(10))
        #expect(cancelled.value)
    }

    @Test func testClientDisconnectsAfterADelay() async throws {
        let cancelled = Latch()
        let app = InlineApplication { _, receive, send in
            _ = try await receive()
            #expect(try await receive() == .disconnect)
            cancelled.open()
        }
        let events = try await TestClient(app).request(.get, "/", disconnectAfter: .milliseconds(20))
        #expect(events.isEmpty)
        #expect(await cancelled.wait())
    }
}

/// The outbound order rules, without any application.
@Suite struct ResponseStateMachineTests {
    @Test func acceptsAWholeResponse() throws {
        var machine = ResponseStateMachine()
        try machine.accept(.start(status: .ok, headers: [:], trailers: true))
        try machine.accept(.body(ByteBuffer(string: "a"), more: true))
        try machine.accept(.body(ByteBuffer(), more: false))
        #expect(!machine.isComplete)
        try machine.accept(.trailers([:]))
        #expect(machine.isComplete)
    }

    @Test func aFileEndsTheBody() throws {
        var machine = ResponseStateMachine()
        try machine.accept(.start(status: .ok, headers: [:]))
        try machine.accept(.file(FileRange(path: "/x", count: 1)))
        #expect(machine.isComplete)
    }

    @Test(arguments: [
        [OutboundEvent.body(ByteBuffer(), more: false)],
        [.start(status: .ok, headers: [:]), .start(status: .ok, headers: [:])],
        [.start(status: .ok, headers: [:]), .body(ByteBuffer(), more: false), .body(ByteBuffer(), more: false)],
        [.start(status: .ok, headers: [:]), .trailers([:])],
        [
            .start(status: .ok, headers: [:], trailers: true), .body(ByteBuffer(), more: false),
            .body(ByteBuffer(), more: false),
        ],
        [.startupComplete],
    ])
    func refusesEventsOutOfOrder(events: [OutboundEvent]) throws {
        var machine = ResponseStateMachine()
        for event in events.dropLast() { try machine.accept(event) }
        let before = machine.state
        #expect(throws: ProtocolError.self) { try machine.accept(events.last!) }
        #expect(machine.state == before)
    }
}

/// Scopes built from request targets.
@Suite struct ScopeTests {
    @Test func targetIsSplitAndThePathDecoded() {
        let scope = HTTPScope(method: .get, target: "/items/a%20b/caf%C3%A9?x=1&y=%20")
        #expect(scope.path == "/items/a b/café")
        #expect(scope.rawPath == "/items/a%20b/caf%C3%A9")
        #expect(scope.queryString == Array("x=1&y=%20".utf8))
    }

    @Test func malformedEscapesAreKept() {
        #expect(PercentDecoding.decode("%zz%4".utf8) == Array("%zz%4".utf8))
        #expect(PercentDecoding.decode("a+b%2B".utf8, plusAsSpace: true) == Array("a b+".utf8))
    }

    @Test func extensionsAreTyped() {
        var scope = HTTPScope(target: "/")
        #expect(scope.extensions[FileSend.self] == nil)
        scope.extensions[FileSend.self] = true
        #expect(scope.extensions[FileSend.self] == true)
    }
}
