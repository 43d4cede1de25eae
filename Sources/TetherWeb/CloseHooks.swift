import NIOConcurrencyHelpers

/// The close hooks of the response a request produced, to run once when it ends.
final class CloseHooks: Sendable {
    private let hooks = NIOLockedValueBox<[@Sendable () async -> Void]>([])

    func add(_ hooks: [@Sendable () async -> Void]) {
        self.hooks.withLockedValue { $0.append(contentsOf: hooks) }
    }

    /// Runs the hooks once; later calls run nothing.
    func run() async {
        let hooks = self.hooks.withLockedValue { hooks in
            defer { hooks.removeAll() }
            return hooks
        }
        for hook in hooks { await hook() }
    }
}
