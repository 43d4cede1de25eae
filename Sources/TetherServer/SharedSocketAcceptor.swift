import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Accepts connections from a listening socket that other processes accept from too: the workers of one Unix
/// socket or one `--fd`.
///
/// A thread of its own waits and accepts, rather than an event loop: every sharer is woken for each connection and
/// all but one find nothing to accept, which NIO's server channel takes for a broken poller (its debug builds stop
/// on an assertion).
final class SharedSocketAcceptor: Sendable {
    private let descriptor: Int32
    private let stopped = Atomic(false)
    private let thread = NIOThreadPool(numberOfThreads: 1)

    init(_ descriptor: Int32) {
        self.descriptor = descriptor
        // A sharer can take the connection between the poll and the accept: the accept must not wait for the next.
        _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK)
    }

    /// The address the socket is bound to.
    var localAddress: SocketAddress? { SocketAddress.bound(to: self.descriptor) }

    /// Each accepted connection's descriptor, non-blocking, until ``stop()``.
    func connections() -> AsyncStream<Int32> {
        let (stream, continuation) = AsyncStream.makeStream(of: Int32.self)
        self.thread.start()
        self.thread.submit { _ in
            while !self.stopped.load(ordering: .relaxed) {
                var waiting = pollfd(fd: self.descriptor, events: Int16(POLLIN), revents: 0)
                // Woken a few times a second to see whether it was stopped.
                guard poll(&waiting, 1, 100) > 0 else { continue }
                let accepted = accept(self.descriptor, nil, nil)
                guard accepted >= 0 else {
                    // EAGAIN: another worker took it. Out of descriptors (EMFILE, ENFILE) or memory: the connection
                    // stays queued, so wait a little rather than spin on it.
                    if errno != EAGAIN, errno != EWOULDBLOCK, errno != ECONNABORTED { usleep(10_000) }
                    continue
                }
                _ = fcntl(accepted, F_SETFL, O_NONBLOCK)
                _ = fcntl(accepted, F_SETFD, FD_CLOEXEC)
                if case .terminated = continuation.yield(accepted) {
                    close(accepted)
                    break
                }
            }
            // The server owns the descriptor it was given, as NIO's server channel does; the other sharers keep
            // their own. Closed here, where nothing polls it any more.
            close(self.descriptor)
            continuation.finish()
        }
        continuation.onTermination = { _ in self.stop() }
        return stream
    }

    /// Stops accepting and closes this process's descriptor; the socket stays open for the other sharers.
    func stop() {
        guard !self.stopped.exchange(true, ordering: .relaxed) else { return }
        self.thread.shutdownGracefully { _ in }
    }
}

extension SocketAddress {
    /// The address a socket descriptor is bound to (`getsockname`), for a socket NIO did not open.
    package static func bound(to descriptor: Int32) -> SocketAddress? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let result = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        guard result == 0 else { return nil }
        return withUnsafePointer(to: &storage) { pointer -> SocketAddress? in
            switch Int32(pointer.pointee.ss_family) {
            case AF_INET: pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { SocketAddress($0.pointee) }
            case AF_INET6: pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { SocketAddress($0.pointee) }
            case AF_UNIX: pointer.withMemoryRebound(to: sockaddr_un.self, capacity: 1) { SocketAddress($0.pointee) }
            default: nil
            }
        }
    }
}
