import HTTPTypes
import NIOCore
import Testing
import TetherGateway

/// The request side of the event contract, as scripts of inputs and the actions they must return.
@Suite struct RequestStateMachineTests {
    typealias Machine = RequestStateMachine

    /// One input to the machine and what it must answer (or, for the checks, what its state must be).
    enum Step: Sendable {
        case chunk(String, Machine.InputAction = .none)
        case end(Machine.InputAction = .none)
        case event(InboundEvent, Machine.InputAction = .none)
        case receive(Machine.ReceiveAction)
        case receiveFails
        case receiveCancelled(Bool)
        case disconnect(CancellationReason, resumeWaiter: Bool, cancelTask: Bool)
        case send(OutboundEvent, bodyAllowed: Bool = true, resumeWaiter: Bool = false)
        case sendThrowsProtocolError(OutboundEvent)
        case sendThrowsDisconnected(OutboundEvent)
        case buffered(Int)
        case reason(CancellationReason?)
        case completion(Machine.Completion)

        static func got(_ event: InboundEvent, resumeReads: Bool = false, sendContinue: Bool = false) -> Step {
            .receive(.deliver(event, resumeReads: resumeReads, sendContinue: sendContinue))
        }
        static func waits(sendContinue: Bool = false) -> Step { .receive(.wait(sendContinue: sendContinue)) }
    }

    /// A named list of steps applied to a fresh machine.
    struct Script: Sendable, CustomTestStringConvertible {
        var name: String
        var configuration = Machine.Configuration()
        var steps: [Step]
        var testDescription: String { self.name }
    }

    static func body(_ text: String, more: Bool = true) -> InboundEvent { .body(ByteBuffer(string: text), more: more) }
    static func out(_ text: String, more: Bool) -> OutboundEvent { .body(ByteBuffer(string: text), more: more) }
    static let start = OutboundEvent.start(status: .ok, headers: [:])
    static let continues = Machine.Configuration(expectsContinue: true)
    static let limit4 = Machine.Configuration(bufferLimit: 4)
    static let keepsQueue = Machine.Configuration(discardsQueueOnDisconnect: false)

    static let scripts: [Script] = [
        Script(
            name: "a receive before the body waits; a chunk and the end resume it",
            steps: [
                .waits(), .chunk("ab", .resume(body("ab"))), .waits(), .end(.resume(body("", more: false))),
                .waits(), .send(start), .send(out("", more: false), resumeWaiter: true), .got(.disconnect),
            ]),
        Script(
            name: "queued chunks come in order and the end marks the last one",
            steps: [
                .chunk("a"), .chunk("bc"), .end(), .buffered(3), .got(body("a")), .buffered(2),
                .got(body("bc", more: false)), .buffered(0), .waits(),
            ]),
        Script(
            name: "a request without a body yields one empty last chunk",
            steps: [
                .end(), .got(body("", more: false)), .waits(), .end(), .chunk("x"), .buffered(0),
            ]),
        Script(
            name: "reads pause at the limit and resume below half of it, once each", configuration: limit4,
            steps: [
                .chunk("ab"), .chunk("c"), .chunk("d", .pauseReads), .chunk("e"), .buffered(5),
                .got(body("ab")), .got(body("c")), .buffered(2), .got(body("d"), resumeReads: true), .got(body("e")),
                .buffered(0), .chunk("wxyz", .pauseReads), .end(), .got(body("wxyz", more: false), resumeReads: true),
            ]),
        Script(
            name: "100-continue goes with the first receive only", configuration: continues,
            steps: [
                .waits(sendContinue: true), .chunk("a", .resume(body("a"))), .waits(), .receiveCancelled(true),
                .waits(),
            ]),
        Script(
            name: "100-continue goes with a queued chunk", configuration: continues,
            steps: [
                .chunk("a"), .got(body("a"), sendContinue: true), .chunk("b"), .got(body("b")),
            ]),
        Script(
            name: "no 100-continue once the response started", configuration: continues,
            steps: [
                .send(start), .waits(),
            ]),
        Script(
            name: "no 100-continue once the body ended", configuration: continues,
            steps: [
                .end(), .got(body("", more: false)), .waits(),
            ]),
        Script(
            name: "no 100-continue after a disconnect", configuration: continues,
            steps: [
                .disconnect(.clientClosed, resumeWaiter: false, cancelTask: true), .got(.disconnect),
            ]),
        Script(
            name: "a disconnect resumes the waiter and cancels the task",
            steps: [
                .waits(), .disconnect(.clientClosed, resumeWaiter: true, cancelTask: true), .got(.disconnect),
                .got(.disconnect), .chunk("late"), .end(), .got(.disconnect), .sendThrowsDisconnected(start),
                .reason(.clientClosed), .completion(.cancelled(.clientClosed)),
            ]),
        Script(
            name: "the first reason wins",
            steps: [
                .disconnect(.requestDeadline, resumeWaiter: false, cancelTask: true),
                .disconnect(.clientReset, resumeWaiter: false, cancelTask: false), .event(.disconnect),
                .reason(.requestDeadline), .completion(.cancelled(.requestDeadline)),
            ]),
        Script(
            name: "a disconnect after the response changes nothing",
            steps: [
                .send(start), .send(out("x", more: false)),
                .disconnect(.clientClosed, resumeWaiter: false, cancelTask: false),
                .reason(nil), .completion(.completed), .got(.disconnect), .sendThrowsDisconnected(out("", more: false)),
            ]),
        Script(
            name: "a server's disconnect drops the queue",
            steps: [
                .chunk("abc"), .event(.startup), .end(),
                .disconnect(.bodyTooLarge, resumeWaiter: false, cancelTask: true),
                .buffered(0), .event(.shutdown), .got(.disconnect), .completion(.cancelled(.bodyTooLarge)),
            ]),
        Script(
            name: "a test tool's disconnect delivers the queue first", configuration: keepsQueue,
            steps: [
                .chunk("ab"), .end(), .disconnect(.clientClosed, resumeWaiter: false, cancelTask: true), .buffered(2),
                .chunk("x"), .got(body("ab", more: false)), .buffered(0), .got(.disconnect), .got(.disconnect),
            ]),
        Script(
            name: "a complete response makes receive return disconnect, even with queued chunks",
            steps: [
                .chunk("ab"), .send(start), .send(out("x", more: false)), .got(.disconnect), .got(.disconnect),
                .completion(.completed), .reason(nil),
            ]),
        Script(
            name: "the send that completes the response resumes the waiter",
            steps: [
                .waits(), .send(.start(status: .ok, headers: [:], trailers: true)), .send(out("x", more: true)),
                .send(out("", more: false)), .send(.trailers([:]), resumeWaiter: true), .got(.disconnect),
            ]),
        Script(
            name: "a second receive while one waits fails; a cancelled receive leaves input queued",
            steps: [
                .waits(), .receiveFails, .receiveCancelled(true), .receiveCancelled(false), .chunk("a"), .buffered(1),
                .got(body("a")), .waits(),
            ]),
        Script(
            name: "sends out of order throw and change nothing",
            steps: [
                .sendThrowsProtocolError(out("x", more: false)), .sendThrowsProtocolError(.trailers([:])),
                .completion(.respondWithServerError), .send(start), .sendThrowsProtocolError(start),
                .sendThrowsProtocolError(.startupComplete), .completion(.abortResponse), .send(out("x", more: false)),
                .completion(.completed), .sendThrowsProtocolError(out("", more: false)),
            ]),
        Script(
            name: "a test tool's lifespan events are queued",
            steps: [
                .event(.startup), .got(.startup), .waits(), .event(.shutdown, .resume(.shutdown)), .waits(),
            ]),
        Script(
            name: "a test tool's disconnect is the client closing",
            steps: [
                .waits(), .event(.disconnect, .resume(.disconnect)), .reason(.clientClosed), .got(.disconnect),
                .completion(.cancelled(.clientClosed)),
            ]),
        Script(
            name: "a test tool's last body event ends the body",
            steps: [
                .event(body("ab", more: false)), .chunk("c"), .end(), .buffered(2), .got(body("ab", more: false)),
                .waits(),
            ]),
        Script(
            name: "a test tool's body event resumes the waiter",
            steps: [
                .waits(), .event(body("a", more: false), .resume(body("a", more: false))), .end(), .chunk("b"),
                .waits(),
            ]),
    ]

    @Test(arguments: scripts)
    func script(_ script: Script) {
        var machine = Machine(configuration: script.configuration)
        for (index, step) in script.steps.enumerated() {
            Self.apply(step, to: &machine, comment: "step \(index): \(step)")
        }
    }

    static func apply(_ step: Step, to machine: inout Machine, comment: Comment) {
        switch step {
        case .chunk(let text, let action):
            #expect(machine.bodyChunkArrived(ByteBuffer(string: text)) == action, comment)
        case .end(let action):
            #expect(machine.bodyEndArrived() == action, comment)
        case .event(let event, let action):
            #expect(machine.eventArrived(event) == action, comment)
        case .receive(let action):
            #expect(machine.receive() == action, comment)
        case .receiveFails:
            guard case .fail = machine.receive() else {
                Issue.record(comment)
                return
            }
        case .receiveCancelled(let wasWaiting):
            #expect(machine.receiveCancelled() == wasWaiting, comment)
        case .disconnect(let reason, let resumeWaiter, let cancelTask):
            let action = machine.disconnected(reason)
            #expect(action.resumeWaiter == resumeWaiter && action.cancelTask == cancelTask, comment)
        case .send(let event, let bodyAllowed, let resumeWaiter):
            do {
                let action = try machine.send(event)
                #expect(action.bodyAllowed == bodyAllowed && action.resumeWaiter == resumeWaiter, comment)
            } catch {
                Issue.record(error, comment)
            }
        case .sendThrowsProtocolError(let event), .sendThrowsDisconnected(let event):
            let before = (machine.response.state, machine.status, machine.bytesSent, machine.completion())
            if case .sendThrowsProtocolError = step {
                #expect(throws: ProtocolError.self, comment) { try machine.send(event) }
            } else {
                #expect(throws: ClientDisconnected.self, comment) { try machine.send(event) }
            }
            #expect(machine.response.state == before.0 && machine.status == before.1, comment)
            #expect(machine.bytesSent == before.2 && machine.completion() == before.3, comment)
        case .buffered(let bytes):
            #expect(machine.bufferedBytes == bytes, comment)
        case .reason(let reason):
            #expect(machine.cancellationReason == reason, comment)
        case .completion(let completion):
            #expect(machine.completion() == completion, comment)
        }
    }

    @Test(arguments: [(200, true), (404, true), (204, false), (304, false), (103, false)])
    func bodyIsAllowedByStatus(code: Int, allowed: Bool) throws {
        var machine = Machine()
        let action = try machine.send(.start(status: .init(code: code), headers: [:]))
        #expect(action.bodyAllowed == allowed)
        #expect(machine.status?.code == code)
        #expect(try machine.send(Self.out("x", more: false)).bodyAllowed == allowed)
    }

    @Test func headResponsesCarryNoBody() throws {
        var machine = Machine(configuration: .init(isHead: true))
        #expect(try machine.send(Self.start).bodyAllowed == false)
        #expect(try machine.send(Self.out("x", more: false)).bodyAllowed == false)
    }

    @Test func bytesSentCountsBodyChunksAndFiles() throws {
        var machine = Machine()
        #expect(machine.status == nil)
        _ = try machine.send(.start(status: .created, headers: [:]))
        _ = try machine.send(Self.out("abc", more: true))
        #expect(machine.bytesSent == 3)
        _ = try machine.send(.file(FileRange(path: "/x", offset: 5, count: 10)))
        #expect(machine.bytesSent == 13)
        #expect(machine.status == .created)
        #expect(machine.response.isComplete)
    }

    @Test func bodyReceivedFollowsTheLastChunk() {
        var machine = Machine()
        _ = machine.bodyChunkArrived(ByteBuffer(string: "a"))
        _ = machine.bodyChunkArrived(ByteBuffer(string: "b"))
        #expect(!machine.bodyEnded)
        _ = machine.bodyEndArrived()
        #expect(machine.bodyEnded && !machine.bodyReceived)
        #expect(machine.receive() == .deliver(Self.body("a"), resumeReads: false, sendContinue: false))
        #expect(!machine.bodyReceived)
        #expect(machine.receive() == .deliver(Self.body("b", more: false), resumeReads: false, sendContinue: false))
        #expect(machine.bodyReceived)
    }
}
