import NIOConcurrencyHelpers

/// A one-shot event for tests: one side opens it, the other waits for it with a generous timeout.
public final class Latch: Sendable {
    private let stream: AsyncStream<Void>
    private let continuation: AsyncStream<Void>.Continuation

    public init() {
        (self.stream, self.continuation) = AsyncStream<Void>.makeStream()
    }

    /// Opens the latch; later waits return at once.
    public func open() {
        self.continuation.yield()
        self.continuation.finish()
    }

    /// Whether the latch opened within `timeout`.
    public func wait(timeout: Duration = .seconds(10)) async -> Bool {
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                for await _ in self.stream { return true }
                return true
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return false
            }
            defer { group.cancelAll() }
            return await group.next()!
        }
    }
}

/// A value shared between an application under test and the test.
public final class Box<Value: Sendable>: Sendable {
    private let storage: NIOLockedValueBox<Value>

    public init(_ value: Value) {
        self.storage = NIOLockedValueBox(value)
    }

    public var value: Value {
        get { self.storage.withLockedValue { $0 } }
        set { self.storage.withLockedValue { $0 = newValue } }
    }

    public func mutate(_ body: (inout Value) -> Void) {
        self.storage.withLockedValue { body(&$0) }
    }
}

extension Result where Failure == any Error {
    /// The outcome of `body`, caught.
    public init(catching body: () async throws -> Success) async {
        do {
            self = .success(try await body())
        } catch {
            self = .failure(error)
        }
    }
}
