import NIOCore

/// The one timer of a handler whose state machine has deadlines: armed at or before the machine's next deadline,
/// left alone for a later one, and re-armed by the handler for what is left when it fires early.
struct DeadlineTimer {
    private var armed: (task: Scheduled<Void>, firesAt: ContinuousClock.Instant)?

    /// Arms for `deadline` unless the timer already fires by then; with no deadline, the timer is cancelled.
    /// `fire` runs on `eventLoop` with `handler`; nothing is allocated unless the timer is armed anew.
    mutating func arm<Handler: AnyObject>(
        for deadline: ContinuousClock.Instant?, on eventLoop: any EventLoop, calling handler: Handler,
        _ fire: @escaping @Sendable (Handler) -> Void
    ) {
        guard let deadline else { return self.cancel() }
        if let armed = self.armed, armed.firesAt <= deadline { return }
        self.armed?.task.cancel()
        let bound = NIOLoopBound(handler, eventLoop: eventLoop)
        let task = eventLoop.scheduleTask(in: ContinuousClock.now.duration(to: deadline).timeAmount) {
            fire(bound.value)
        }
        self.armed = (task, deadline)
    }

    /// The timer fired: the next deadline needs arming anew.
    mutating func fired() {
        self.armed = nil
    }

    /// Cancels the timer, if armed.
    mutating func cancel() {
        self.armed?.task.cancel()
        self.armed = nil
    }
}
