import NIOCore
import TetherServer

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// How a supervisor and its workers find each other: the variables it sets in each worker's environment.
enum WorkerEnvironment {
    /// The listening socket's descriptor in the worker.
    static let socketKey = "TETHER_WORKER_SOCKET_FD"
    /// Set when every worker accepts from that one socket (a Unix socket, `--fd`) rather than a socket of its slot.
    static let sharedKey = "TETHER_WORKER_SOCKET_SHARED"
    /// A pipe's writing end: the worker writes one byte to it once it listens.
    static let readyKey = "TETHER_WORKER_READY_FD"
    /// The supervisor's pid: a worker whose parent changed has lost its supervisor and drains.
    static let supervisorKey = "TETHER_SUPERVISOR_PID"
    /// Where the worker finds its socket and its ready pipe.
    static let socketDescriptor: Int32 = 3
    static let readyDescriptor: Int32 = 4
}

/// A listening socket of the supervisor's, which it keeps open while its workers come and go, so that the
/// connections queued on it wait for the next worker rather than being refused.
final class ListeningSocket {
    let descriptor: Int32
    private let unixSocketPath: String?
    private let owned: Bool

    /// A new socket listening on `address`; with `reusePort`, one of a group on the same port, among which the
    /// kernel spreads connections.
    init(binding address: SocketAddress, backlog: Int32, reusePort: Bool) throws {
        let type = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        let descriptor = socket(Int32(address.protocol.rawValue), type, 0)
        guard descriptor >= 0 else { throw SupervisorError.system("socket", errno) }
        var on: Int32 = 1
        if let path = address.pathname {
            // As the server does alone: an old socket file is replaced.
            unlink(path)
        } else {
            setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
            if reusePort {
                setsockopt(descriptor, SOL_SOCKET, SO_REUSEPORT, &on, socklen_t(MemoryLayout<Int32>.size))
            }
        }
        let bound = address.withSockAddr { pointer, size in bind(descriptor, pointer, socklen_t(size)) }
        guard bound == 0, listen(descriptor, backlog) == 0 else {
            let error = errno
            close(descriptor)
            throw SupervisorError.system("bind \(address)", error)
        }
        // A proxy running as another user connects to it, as to uvicorn's.
        if let path = address.pathname { chmod(path, 0o666) }
        self.descriptor = descriptor
        self.unixSocketPath = address.pathname
        self.owned = true
    }

    /// A socket inherited from whoever started the supervisor (systemd), which stays theirs.
    init(inherited descriptor: Int32) {
        self.descriptor = descriptor
        self.unixSocketPath = nil
        self.owned = false
    }

    /// The port it is bound to: the port the next sockets of its group bind when port 0 was asked for.
    var port: Int? { SocketAddress.bound(to: self.descriptor)?.port }

    deinit {
        guard self.owned else { return }
        close(self.descriptor)
        if let path = self.unixSocketPath { unlink(path) }
    }
}

/// A worker process: this same program, started with the listening socket as descriptor 3 and a pipe to say it
/// listens as descriptor 4.
struct WorkerProcess {
    let pid: Int32
    /// The reading end of the ready pipe, non-blocking.
    let ready: Int32

    /// Starts a worker running `arguments` with `environment` and the supervisor's markers.
    static func spawn(
        arguments: [String], environment: [String: String], socket: Int32, shared: Bool
    ) throws -> WorkerProcess {
        var pipeEnds: [Int32] = [0, 0]
        guard pipe(&pipeEnds) == 0 else { throw SupervisorError.system("pipe", errno) }
        // The reading end is polled, and neither end may leak into other workers.
        _ = fcntl(pipeEnds[0], F_SETFL, O_NONBLOCK)
        _ = fcntl(pipeEnds[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(pipeEnds[1], F_SETFD, FD_CLOEXEC)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        // Moved above 4 first, so that placing one never overwrites the other.
        let socketCopy = fcntl(socket, F_DUPFD_CLOEXEC, 10)
        let readyCopy = fcntl(pipeEnds[1], F_DUPFD_CLOEXEC, 10)
        close(pipeEnds[1])
        defer {
            close(socketCopy)
            close(readyCopy)
        }
        guard socketCopy >= 0, readyCopy >= 0 else {
            close(pipeEnds[0])
            throw SupervisorError.system("fcntl", errno)
        }
        posix_spawn_file_actions_adddup2(&actions, socketCopy, WorkerEnvironment.socketDescriptor)
        posix_spawn_file_actions_adddup2(&actions, readyCopy, WorkerEnvironment.readyDescriptor)
        var environment = environment
        environment[WorkerEnvironment.socketKey] = String(WorkerEnvironment.socketDescriptor)
        environment[WorkerEnvironment.readyKey] = String(WorkerEnvironment.readyDescriptor)
        environment[WorkerEnvironment.sharedKey] = shared ? "1" : nil
        environment[WorkerEnvironment.supervisorKey] = String(getpid())
        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv + envp { free(pointer) }
        }
        var pid: pid_t = 0
        let status = posix_spawn(&pid, "/proc/self/exe", &actions, nil, argv, envp)
        guard status == 0 else {
            close(pipeEnds[0])
            throw SupervisorError.system("posix_spawn", status)
        }
        return WorkerProcess(pid: pid, ready: pipeEnds[0])
    }
}

/// Why the supervisor could not go on.
struct SupervisorError: Error, CustomStringConvertible {
    let description: String

    static func system(_ call: String, _ code: Int32) -> SupervisorError {
        SupervisorError(description: "\(call) failed: \(String(cString: strerror(code)))")
    }
}
