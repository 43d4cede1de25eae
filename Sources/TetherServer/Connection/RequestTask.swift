import NIOConcurrencyHelpers

/// The task serving a connection's current request, which the event loop cancels directly, with no hop through
/// another task, the moment the request is abandoned.
///
/// The task stores its own handle when it starts and clears it, under the same lock, before it ends: a cancel
/// made under the lock therefore never reaches a finished task.
final class RequestTask: Sendable {
    /// A handle that is only valid while stored: the task removes it before it ends.
    private struct Handle: @unchecked Sendable {
        let task: UnsafeCurrentTask
    }

    private let handle = NIOLockedValueBox<Handle?>(nil)

    /// Runs `body` as the current request's work, cancellable through ``cancel()``; cancels itself at once if
    /// `isAbandoned` says the request was abandoned before the work began.
    func run(isAbandoned: () -> Bool, _ body: () async -> Void) async {
        withUnsafeCurrentTask { task in
            guard let task else { return }
            self.handle.withLockedValue { $0 = Handle(task: task) }
            // A cancel that came before the handle was stored found nothing to cancel: the request says so.
            if isAbandoned() { task.cancel() }
        }
        await body()
        self.handle.withLockedValue { $0 = nil }
    }

    /// Cancels the current request's task, if one is running.
    func cancel() {
        self.handle.withLockedValue { $0?.task.cancel() }
    }
}
