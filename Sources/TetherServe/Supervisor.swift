import Logging
import NIOConcurrencyHelpers
import NIOCore
import UnixSignals

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs `--workers N`: binds the listening sockets once, starts the workers on them, replaces those that die,
/// replaces all of them one by one on SIGHUP, and drains them on SIGTERM or SIGINT.
///
/// On a port, each worker slot has its own `SO_REUSEPORT` socket, bound by the supervisor and inherited by the
/// slot's worker: the kernel spreads connections among them with no thundering herd, and the supervisor keeps
/// them open, so a worker that crashes or is replaced leaves its queued connections to its successor, where
/// sockets bound by the workers themselves would reset them. A Unix socket or `--fd` is one socket all workers
/// share.
final class Supervisor {
    private let settings: ServeSettings
    private let arguments: [String]
    private let environment: [String: String]
    private let logger: Logger
    private var machine: SupervisorStateMachine<ContinuousClock>
    /// Each starting worker's ready pipe.
    private var readyPipes: [Int32: Int32] = [:]
    private var finished = false

    init(settings: ServeSettings, arguments: [String], environment: [String: String], logger: Logger) {
        self.settings = settings
        self.arguments = arguments
        self.environment = environment
        self.logger = logger
        self.machine = SupervisorStateMachine(
            workers: settings.workers, killAfter: settings.gracefulShutdown + .seconds(5))
    }

    func run() async throws {
        let sockets = try self.makeSockets()
        self.logger.info(
            "Supervisor started",
            metadata: [
                "pid": "\(getpid())", "workers": "\(self.settings.workers)", "listening": "\(self.settings.listening)",
            ])
        let signals = NIOLockedValueBox<[UnixSignal]>([])
        let trapped = await UnixSignalsSequence(trapping: .sigterm, .sigint, .sighup)
        await withDiscardingTaskGroup { group in
            group.addTask {
                for await signal in trapped { signals.withLockedValue { $0.append(signal) } }
            }
            self.perform(self.machine.start(now: .now), sockets: sockets)
            while !self.finished {
                // A tick rather than a wait per worker: signals, ready pipes and exits are read in one place.
                try? await Task.sleep(for: .milliseconds(20))
                for signal in signals.withLockedValue({ signals in
                    defer { signals = [] }
                    return signals
                }) {
                    self.logger.info("Supervisor received \(signal)")
                    let actions = signal == .sighup ? self.machine.reload(now: .now) : self.machine.stop(now: .now)
                    self.perform(actions, sockets: sockets)
                }
                self.readReadyPipes(sockets: sockets)
                self.reapWorkers(sockets: sockets)
                self.perform(self.machine.tick(now: .now), sockets: sockets)
            }
            group.cancelAll()
        }
        self.logger.info("Supervisor stopped")
    }

    /// Each slot's socket.
    private func makeSockets() throws -> [ListeningSocket] {
        let server = self.settings.server
        let count = self.settings.workers
        if let descriptor = server.socketDescriptor {
            return Array(repeating: ListeningSocket(inherited: descriptor), count: count)
        }
        if let path = server.unixSocketPath {
            let socket = try ListeningSocket(
                binding: try SocketAddress(unixDomainSocketPath: path), backlog: server.backlog, reusePort: false)
            return Array(repeating: socket, count: count)
        }
        let first = try ListeningSocket(
            binding: try SocketAddress.makeAddressResolvingHost(server.host, port: server.port),
            backlog: server.backlog, reusePort: true)
        // Port 0 asked for a free port: the rest of the group takes the one the first got.
        let port = first.port ?? server.port
        var sockets = [first]
        for _ in 1..<count {
            sockets.append(
                try ListeningSocket(
                    binding: try SocketAddress.makeAddressResolvingHost(server.host, port: port),
                    backlog: server.backlog, reusePort: true))
        }
        return sockets
    }

    private func perform(_ actions: [SupervisorStateMachine<ContinuousClock>.Action], sockets: [ListeningSocket]) {
        for action in actions {
            switch action {
            case .spawn(let slot):
                do {
                    let worker = try WorkerProcess.spawn(
                        arguments: self.arguments, environment: self.environment, socket: sockets[slot].descriptor,
                        shared: sockets.count > 1 && sockets[0] === sockets[1])
                    self.readyPipes[worker.pid] = worker.ready
                    self.logger.info("Worker started", metadata: ["pid": "\(worker.pid)", "slot": "\(slot)"])
                    self.perform(self.machine.spawned(worker.pid, slot: slot, now: .now), sockets: sockets)
                } catch {
                    self.logger.error("A worker could not be started: \(error)")
                    self.perform(self.machine.spawnFailed(slot: slot, now: .now), sockets: sockets)
                }
            case .terminate(let pid):
                self.logger.info("Draining worker", metadata: ["pid": "\(pid)"])
                kill(pid, SIGTERM)
            case .kill(let pid):
                self.logger.warning("Killing worker that outlived its grace period", metadata: ["pid": "\(pid)"])
                kill(pid, SIGKILL)
            case .exit:
                self.finished = true
            }
        }
    }

    /// One byte on a worker's pipe: it listens.
    private func readReadyPipes(sockets: [ListeningSocket]) {
        for (pid, descriptor) in self.readyPipes {
            var byte: UInt8 = 0
            let count = read(descriptor, &byte, 1)
            guard count >= 0 || errno != EAGAIN else { continue }
            close(descriptor)
            self.readyPipes[pid] = nil
            // Nothing but the end of the pipe: the worker exited before it listened, which its exit reports.
            if count == 1 {
                self.logger.info("Worker serving", metadata: ["pid": "\(pid)"])
                self.perform(self.machine.ready(pid, now: .now), sockets: sockets)
            }
        }
    }

    private func reapWorkers(sockets: [ListeningSocket]) {
        while true {
            var status: Int32 = 0
            let pid = waitpid(-1, &status, WNOHANG)
            guard pid > 0 else { return }
            if let descriptor = self.readyPipes.removeValue(forKey: pid) { close(descriptor) }
            // WIFEXITED and WTERMSIG are C macros: the low seven bits are the signal, the next byte the status.
            let signal = status & 0x7f
            let outcome = signal == 0 ? "exit status \((status >> 8) & 0xff)" : "signal \(signal)"
            let expected = signal == 0 && (status >> 8) & 0xff == 0
            self.logger.log(
                level: expected ? .info : .error, "Worker exited", metadata: ["pid": "\(pid)", "outcome": "\(outcome)"])
            self.perform(self.machine.exited(pid, now: .now), sockets: sockets)
        }
    }
}
