import HTTPTypes
import NIOCore
import Testing
import TetherGateway

/// The WebSocket side of the event contract, as scripts of inputs and the actions they must return.
@Suite struct WebSocketStateMachineTests {
    typealias Machine = WebSocketStateMachine

    /// One input to the machine and what it must answer (or, for the checks, what its state must be).
    enum Step: Sendable {
        case message(WebSocketMessage, Machine.InputAction = .none)
        case event(InboundEvent, Machine.InputAction = .none)
        case receive(Machine.ReceiveAction)
        case receiveFails
        case receiveCancelled(Bool)
        case disconnect(UInt16, reason: String = "", CancellationReason, resumeWaiter: Bool, cancelTask: Bool)
        case send(OutboundEvent, Machine.SendAction)
        case sendThrowsProtocolError(OutboundEvent)
        case sendThrowsDisconnected(OutboundEvent)
        case buffered(Int)
        case paused(Bool)
        case counts(sent: Int, received: Int)
        case handshake(Machine.Handshake)
        case applicationClosed(Bool)
        case denialStatus(HTTPResponse.Status?)
        case reason(CancellationReason?)
        case completion(Machine.Completion)

        static func got(_ event: InboundEvent, resumeReads: Bool = false) -> Step {
            .receive(.deliver(event, resumeReads: resumeReads))
        }
        static func got(_ text: String, resumeReads: Bool = false) -> Step {
            .receive(.deliver(.websocketReceive(.text(text)), resumeReads: resumeReads))
        }
        static let waits = Step.receive(.wait)
        static let connects = Step.got(.websocketConnect)
        static let accepts = Step.send(.websocketAccept(), .accept(subprotocol: nil, headers: [:]))
        static func text(_ text: String, _ action: Machine.InputAction = .none) -> Step {
            .message(.text(text), action)
        }
    }

    /// A named list of steps applied to a fresh machine.
    struct Script: Sendable, CustomTestStringConvertible {
        var name: String
        var configuration = Machine.Configuration()
        var steps: [Step]
        var testDescription: String { self.name }
    }

    static let accept = OutboundEvent.websocketAccept()
    static func say(_ text: String) -> OutboundEvent { .websocketSend(.text(text)) }
    static func received(_ text: String) -> InboundEvent { .websocketReceive(.text(text)) }
    static func body(_ text: String, more: Bool) -> OutboundEvent { .body(ByteBuffer(string: text), more: more) }
    static let close = OutboundEvent.websocketClose()
    static let start403 = OutboundEvent.start(status: .forbidden, headers: [.contentType: "text/plain"])
    static let limit4 = Machine.Configuration(bufferLimit: 4)
    static let keepsQueue = Machine.Configuration(discardsQueueOnDisconnect: false)
    static let serverHeaders: HTTPFields = [HTTPField.Name("X-Server")!: "tether"]

    static let scripts: [Script] = [
        Script(
            name: "the first receive delivers websocket.connect; the next one waits",
            steps: [
                .handshake(.pending), .connects, .handshake(.connecting), .waits, .counts(sent: 0, received: 0),
                .completion(.denyForbidden),
            ]),
        Script(
            name: "nothing may be sent before websocket.connect is received",
            steps: [
                .sendThrowsProtocolError(accept), .sendThrowsProtocolError(close),
                .sendThrowsProtocolError(say("hi")), .sendThrowsProtocolError(start403), .handshake(.pending),
                .completion(.denyForbidden), .connects, .accepts,
            ]),
        Script(
            name: "the accept carries its subprotocol and headers",
            steps: [
                .connects,
                .send(
                    .websocketAccept(subprotocol: "chat", headers: serverHeaders),
                    .accept(subprotocol: "chat", headers: serverHeaders)),
                .handshake(.accepted), .applicationClosed(false), .completion(.close),
            ]),
        Script(
            name: "a send before the accept is a protocol error; so is a second accept",
            steps: [
                .connects, .sendThrowsProtocolError(say("early")), .completion(.denyForbidden), .accepts,
                .sendThrowsProtocolError(accept), .send(say("hi"), .send(.text("hi"))),
                .counts(sent: 1, received: 0),
            ]),
        Script(
            name: "messages before the accept are not the application's",
            steps: [
                .text("early"), .connects, .text("still early"), .buffered(0), .accepts, .text("now"), .buffered(3),
                .got("now"), .waits,
            ]),
        Script(
            name: "queued messages come in order",
            steps: [
                .connects, .accepts, .text("a"), .message(.binary(ByteBuffer(bytes: [1, 2]))), .text("é"),
                .buffered(5), .got("a"), .buffered(4), .got(.websocketReceive(.binary(ByteBuffer(bytes: [1, 2])))),
                .got("é"), .buffered(0), .waits, .counts(sent: 0, received: 3),
            ]),
        Script(
            name: "reads pause at the limit and resume below half of it, once each", configuration: limit4,
            steps: [
                .connects, .accepts, .text("ab"), .text("c"), .text("d", .pauseReads), .paused(true), .text("e"),
                .buffered(5), .got("ab"), .got("c"), .buffered(2), .paused(true), .got("d", resumeReads: true),
                .paused(false), .got("e"), .buffered(0), .text("wxyz", .pauseReads), .got("wxyz", resumeReads: true),
                .waits,
            ]),
        Script(
            name: "a parked receive is resumed by a message",
            steps: [
                .connects, .accepts, .waits, .text("a", .resume(received("a"))), .buffered(0), .waits,
                .text("b", .resume(received("b"))), .counts(sent: 0, received: 2), .text("c"), .got("c"),
            ]),
        Script(
            name: "a second receive while one waits fails; a cancelled receive leaves messages queued",
            steps: [
                .connects, .accepts, .waits, .receiveFails, .receiveCancelled(true), .receiveCancelled(false),
                .text("a"), .buffered(1), .got("a"), .waits,
            ]),
        Script(
            name: "a receive waits before the accept too, and the accept does not resume it",
            steps: [
                .connects, .waits, .receiveFails, .accepts, .text("a", .resume(received("a"))),
            ]),
        Script(
            name: "a disconnect resumes the parked receive and cancels the task",
            steps: [
                .connects, .accepts, .waits,
                .disconnect(1001, reason: "going away", .closeFrame, resumeWaiter: true, cancelTask: true),
                .got(.websocketDisconnect(code: 1001, reason: "going away")),
                .got(.websocketDisconnect(code: 1001, reason: "going away")), .reason(.closeFrame),
                .completion(.cancelled(.closeFrame)), .text("late"), .buffered(0),
                .got(.websocketDisconnect(code: 1001, reason: "going away")),
            ]),
        Script(
            name: "sends after a disconnect throw ClientDisconnected",
            steps: [
                .connects, .accepts, .disconnect(1006, .clientReset, resumeWaiter: false, cancelTask: true),
                .sendThrowsDisconnected(say("x")), .sendThrowsDisconnected(close),
                .sendThrowsDisconnected(.websocketClose(code: 5000)), .sendThrowsDisconnected(accept),
                .sendThrowsDisconnected(start403), .reason(.clientReset), .completion(.cancelled(.clientReset)),
            ]),
        Script(
            name: "a disconnect before the accept throws ClientDisconnected at the accept",
            steps: [
                .connects, .disconnect(1006, .clientClosed, resumeWaiter: false, cancelTask: true),
                .sendThrowsDisconnected(accept), .got(.websocketDisconnect(code: 1006, reason: "")),
                .completion(.cancelled(.clientClosed)),
            ]),
        Script(
            name: "a disconnect before websocket.connect was received still lets connect come first",
            steps: [
                .disconnect(1006, .clientClosed, resumeWaiter: false, cancelTask: true), .connects,
                .got(.websocketDisconnect(code: 1006, reason: "")), .completion(.cancelled(.clientClosed)),
            ]),
        Script(
            name: "a disconnect after the application closed cancels nothing and records no reason",
            steps: [
                .connects, .accepts, .send(close, .close(code: 1000, reason: "")), .applicationClosed(true),
                .completion(.completed), .waits,
                .disconnect(1000, .closeFrame, resumeWaiter: true, cancelTask: false), .reason(nil),
                .completion(.completed), .got(.websocketDisconnect(code: 1000, reason: "")),
                .sendThrowsDisconnected(say("x")),
            ]),
        Script(
            name: "the first disconnect wins",
            steps: [
                .connects, .accepts, .disconnect(1006, .clientReset, resumeWaiter: false, cancelTask: true),
                .disconnect(1000, reason: "late", .closeFrame, resumeWaiter: false, cancelTask: false),
                .event(.websocketDisconnect(code: 1001, reason: "")), .reason(.clientReset),
                .got(.websocketDisconnect(code: 1006, reason: "")), .completion(.cancelled(.clientReset)),
            ]),
        Script(
            name: "a server's disconnect drops queued messages", configuration: limit4,
            steps: [
                .connects, .accepts, .text("abcd", .pauseReads), .text("e"),
                .disconnect(1000, .closeFrame, resumeWaiter: false, cancelTask: true), .buffered(0),
                .got(.websocketDisconnect(code: 1000, reason: "")),
            ]),
        Script(
            name: "a test tool's disconnect delivers queued messages first", configuration: keepsQueue,
            steps: [
                .connects, .accepts, .text("a"), .text("b"),
                .disconnect(1000, reason: "done", .closeFrame, resumeWaiter: false, cancelTask: true), .buffered(2),
                .text("late"), .buffered(2), .got("a"), .got("b"),
                .got(.websocketDisconnect(code: 1000, reason: "done")),
                .got(.websocketDisconnect(code: 1000, reason: "done")),
            ]),
        Script(
            name: "after its close the application may still receive, but not send or close again",
            steps: [
                .connects, .accepts,
                .send(.websocketClose(code: 4000, reason: "bye"), .close(code: 4000, reason: "bye")),
                .sendThrowsProtocolError(close), .sendThrowsProtocolError(.websocketClose(code: 4000, reason: "bye")),
                .sendThrowsProtocolError(say("x")), .sendThrowsProtocolError(accept), .text("in flight"),
                .got("in flight"), .waits, .completion(.completed),
            ]),
        Script(
            name: "a reason of 123 bytes fits a close frame; 124 do not",
            steps: [
                .connects, .accepts,
                .sendThrowsProtocolError(.websocketClose(code: 1000, reason: String(repeating: "é", count: 62))),
                .sendThrowsProtocolError(.websocketClose(code: 1000, reason: String(repeating: "x", count: 124))),
                .applicationClosed(false),
                .send(
                    .websocketClose(code: 1000, reason: String(repeating: "x", count: 123)),
                    .close(code: 1000, reason: String(repeating: "x", count: 123))),
            ]),
        Script(
            name: "websocket.close before the accept denies with 403",
            steps: [
                .connects, .send(close, .denyForbidden), .applicationClosed(true), .completion(.completed),
                .sendThrowsProtocolError(accept), .sendThrowsProtocolError(say("x")),
                .sendThrowsProtocolError(close), .sendThrowsProtocolError(start403),
                .sendThrowsProtocolError(body("x", more: false)),
                .disconnect(1006, .clientClosed, resumeWaiter: false, cancelTask: false), .reason(nil),
                .completion(.completed),
            ]),
        Script(
            name: "any close code denies before the accept, even one a close frame could not carry",
            steps: [
                .connects, .send(.websocketClose(code: 1006, reason: ""), .denyForbidden), .completion(.completed),
            ]),
        Script(
            name: "an HTTP response denies the handshake, and nothing follows its end",
            steps: [
                .connects, .send(start403, .deny(start403, bodyAllowed: true)), .denialStatus(.forbidden),
                .applicationClosed(false), .completion(.abortDenial), .sendThrowsProtocolError(accept),
                .sendThrowsProtocolError(say("x")), .sendThrowsProtocolError(close), .sendThrowsProtocolError(start403),
                .send(body("no", more: true), .deny(body("no", more: true), bodyAllowed: true)),
                .completion(.abortDenial),
                .send(body("", more: false), .deny(body("", more: false), bodyAllowed: true)),
                .applicationClosed(true), .completion(.completed), .sendThrowsProtocolError(body("x", more: false)),
                .sendThrowsProtocolError(start403), .sendThrowsProtocolError(.trailers([:])),
                .sendThrowsProtocolError(accept), .sendThrowsProtocolError(say("x")), .sendThrowsProtocolError(close),
                .disconnect(1006, .clientClosed, resumeWaiter: false, cancelTask: false), .completion(.completed),
            ]),
        Script(
            name: "a denial promising trailers ends with them",
            steps: [
                .connects,
                .send(
                    .start(status: .unauthorized, headers: [:], trailers: true),
                    .deny(.start(status: .unauthorized, headers: [:], trailers: true), bodyAllowed: true)),
                .send(body("x", more: false), .deny(body("x", more: false), bodyAllowed: true)),
                .applicationClosed(false), .completion(.abortDenial),
                .send(.trailers([:]), .deny(.trailers([:]), bodyAllowed: true)), .applicationClosed(true),
                .completion(.completed),
            ]),
        Script(
            name: "a 204 or 304 denial carries no body",
            steps: [
                .connects,
                .send(
                    .start(status: .noContent, headers: [:]),
                    .deny(.start(status: .noContent, headers: [:]), bodyAllowed: false)),
                .send(body("", more: false), .deny(body("", more: false), bodyAllowed: false)),
                .denialStatus(.noContent),
            ]),
        Script(
            name: "a 1xx denial is refused, first or after the head",
            steps: [
                .connects, .sendThrowsProtocolError(.start(status: .continue, headers: [:])),
                .sendThrowsProtocolError(.start(status: .switchingProtocols, headers: [:])),
                .sendThrowsProtocolError(.start(status: .earlyHints, headers: [:])), .denialStatus(nil),
                .completion(.denyForbidden), .send(start403, .deny(start403, bodyAllowed: true)),
                .sendThrowsProtocolError(.start(status: .earlyHints, headers: [:])), .denialStatus(.forbidden),
            ]),
        Script(
            name: "a disconnect during a denial cancels the task",
            steps: [
                .connects, .send(start403, .deny(start403, bodyAllowed: true)),
                .disconnect(1006, .clientReset, resumeWaiter: false, cancelTask: true), .reason(.clientReset),
                .completion(.cancelled(.clientReset)), .sendThrowsDisconnected(body("", more: false)),
            ]),
        Script(
            name: "HTTP bodies and lifespan events are not a WebSocket's",
            steps: [
                .connects, .sendThrowsProtocolError(body("x", more: false)),
                .sendThrowsProtocolError(.startupComplete), .sendThrowsProtocolError(.trailers([:])), .accepts,
                .sendThrowsProtocolError(start403), .sendThrowsProtocolError(body("x", more: false)),
                .sendThrowsProtocolError(.shutdownComplete), .completion(.close),
            ]),
        Script(
            name: "completion: never answered, accepted, closed",
            steps: [
                .completion(.denyForbidden), .connects, .completion(.denyForbidden), .accepts, .completion(.close),
                .send(say("x"), .send(.text("x"))), .completion(.close), .send(close, .close(code: 1000, reason: "")),
                .completion(.completed),
            ]),
        Script(
            name: "completion: cancelled before the handshake was answered",
            steps: [
                .connects, .disconnect(1006, .serverShutdown, resumeWaiter: false, cancelTask: true),
                .completion(.cancelled(.serverShutdown)),
            ]),
        Script(
            name: "a test tool's messages are queued without back-pressure and resume the waiter",
            configuration: limit4,
            steps: [
                .event(received("early")), .connects, .got("early"), .accepts, .event(received("abcdef")),
                .paused(false), .buffered(6), .got("abcdef"), .waits, .event(received("g"), .resume(received("g"))),
                .counts(sent: 0, received: 3),
            ]),
        Script(
            name: "a test tool's 1006 is the client's connection closing",
            steps: [
                .connects, .accepts, .waits,
                .event(
                    .websocketDisconnect(code: 1006, reason: ""), .resume(.websocketDisconnect(code: 1006, reason: ""))),
                .reason(.clientClosed), .completion(.cancelled(.clientClosed)),
                .got(.websocketDisconnect(code: 1006, reason: "")), .event(received("late")), .buffered(0),
            ]),
        Script(
            name: "a test tool's other codes are a close frame",
            steps: [
                .connects, .accepts, .event(.websocketDisconnect(code: 1001, reason: "away")), .reason(.closeFrame),
                .completion(.cancelled(.closeFrame)), .got(.websocketDisconnect(code: 1001, reason: "away")),
            ]),
        Script(
            name: "a test tool's close after the application's cancels nothing",
            steps: [
                .connects, .accepts, .send(close, .close(code: 1000, reason: "")),
                .event(.websocketDisconnect(code: 4000, reason: "")), .reason(nil), .completion(.completed),
            ]),
        Script(
            name: "a test tool's disconnect delivers queued messages first", configuration: keepsQueue,
            steps: [
                .connects, .accepts, .event(received("a")), .event(.websocketDisconnect(code: 1000, reason: "")),
                .got("a"), .got(.websocketDisconnect(code: 1000, reason: "")),
            ]),
        Script(
            name: "a test tool's events of other scopes are out of place",
            steps: [
                .event(.websocketConnect), .event(.startup), .event(.disconnect),
                .event(.body(ByteBuffer(string: "x"), more: false)), .handshake(.pending), .reason(nil), .connects,
                .waits,
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
        case .message(let message, let action):
            #expect(machine.messageArrived(message) == action, comment)
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
        case .disconnect(let code, let reason, let cancelling, let resumeWaiter, let cancelTask):
            let action = machine.disconnected(code: code, reason: reason, cancelling: cancelling)
            #expect(action.resumeWaiter == resumeWaiter && action.cancelTask == cancelTask, comment)
        case .send(let event, let action):
            do {
                #expect(try machine.send(event) == action, comment)
            } catch {
                Issue.record(error, comment)
            }
        case .sendThrowsProtocolError(let event), .sendThrowsDisconnected(let event):
            let before = Snapshot(machine)
            if case .sendThrowsProtocolError = step {
                #expect(throws: ProtocolError.self, comment) { try machine.send(event) }
            } else {
                #expect(throws: ClientDisconnected.self, comment) { try machine.send(event) }
            }
            #expect(Snapshot(machine) == before, comment)
        case .buffered(let bytes):
            #expect(machine.bufferedBytes == bytes, comment)
        case .paused(let paused):
            #expect(machine.readsPaused == paused, comment)
        case .counts(let sent, let received):
            #expect(machine.messagesSent == sent && machine.messagesReceived == received, comment)
        case .handshake(let handshake):
            #expect(machine.handshake == handshake, comment)
        case .applicationClosed(let closed):
            #expect(machine.applicationClosed == closed, comment)
        case .denialStatus(let status):
            #expect(machine.denialStatus == status, comment)
        case .reason(let reason):
            #expect(machine.cancellationReason == reason, comment)
        case .completion(let completion):
            #expect(machine.completion() == completion, comment)
        }
    }

    /// What a refused send must leave as it was.
    struct Snapshot: Equatable {
        var handshake: Machine.Handshake
        var applicationClosed: Bool
        var messagesSent: Int
        var denialStatus: HTTPResponse.Status?
        var completion: Machine.Completion

        init(_ machine: Machine) {
            self.handshake = machine.handshake
            self.applicationClosed = machine.applicationClosed
            self.messagesSent = machine.messagesSent
            self.denialStatus = machine.denialStatus
            self.completion = machine.completion()
        }
    }

    /// Close codes as the application sends them, after the accept.
    @Test(arguments: [
        (1000, true), (1001, true), (1002, true), (1003, true), (1007, true), (1011, true), (1014, true),
        (3000, true), (4000, true), (4999, true), (0, false), (999, false), (1004, false), (1005, false),
        (1006, false), (1015, false), (1016, false), (2999, false), (5000, false), (65535, false),
    ])
    func applicationCloseCodes(code: Int, sendable: Bool) throws {
        var machine = Machine()
        _ = machine.receive()
        _ = try machine.send(Self.accept)
        let close = OutboundEvent.websocketClose(code: UInt16(code), reason: "r")
        if sendable {
            #expect(try machine.send(close) == .close(code: UInt16(code), reason: "r"))
            #expect(machine.applicationClosed)
        } else {
            #expect(throws: ProtocolError.self) { try machine.send(close) }
            #expect(!machine.applicationClosed)
            #expect(machine.completion() == .close)
            #expect(try machine.send(Self.close) == .close(code: 1000, reason: ""))
        }
    }

    @Test func theDefaultsAreAServers() {
        let configuration = Machine.Configuration()
        #expect(configuration.bufferLimit == 1 << 20)
        #expect(configuration.discardsQueueOnDisconnect)
        let machine = Machine()
        #expect(!machine.isDisconnected && machine.disconnect == nil && !machine.isWaiting)
    }

    @Test func theDisconnectIsRecorded() {
        var machine = Machine()
        _ = machine.disconnected(code: 4001, reason: "kicked", cancelling: .closeFrame)
        #expect(machine.isDisconnected)
        #expect(machine.disconnect?.code == 4001 && machine.disconnect?.reason == "kicked")
    }
}
