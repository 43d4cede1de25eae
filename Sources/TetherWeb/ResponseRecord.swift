import HTTPTypes
import NIOConcurrencyHelpers

/// What a request's response left to do and to tell: its close hooks, to run once when the request ends, and the
/// status it was answered with, for the finished hooks. One lock holds both: one allocation per request.
struct ResponseRecord: Sendable {
    private struct State {
        var hooks: [@Sendable () async -> Void] = []
        var status: HTTPResponse.Status?
    }

    private let state = NIOLockedValueBox(State())

    /// Records the response about to be sent: its status and its close hooks.
    func record(_ response: Response) {
        self.state.withLockedValue { state in
            state.status = response.status
            state.hooks.append(contentsOf: response.closeHooks)
        }
    }

    /// Records a status answered without a response of the application's.
    func record(_ status: HTTPResponse.Status) {
        self.state.withLockedValue { $0.status = status }
    }

    /// The status the request was answered with, if any.
    var status: HTTPResponse.Status? { self.state.withLockedValue { $0.status } }

    /// Runs the close hooks once; later calls run nothing.
    func runCloseHooks() async {
        let hooks = self.state.withLockedValue { state in
            defer { state.hooks.removeAll() }
            return state.hooks
        }
        for hook in hooks { await hook() }
    }
}
