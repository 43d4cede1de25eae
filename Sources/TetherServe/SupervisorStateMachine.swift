/// Every decision of the supervisor of `--workers N`, apart from processes and signals: which worker to start in
/// which slot, which to drain, when to stop waiting; the supervisor carries out its actions.
///
/// Each of the `N` slots has a listening socket the supervisor keeps open, so the connections queued on it wait
/// for the slot's next worker rather than being refused.
/// - A worker that dies is replaced in its slot at once if it had been serving, after a backoff (0.1 s,
///   doubling, at most 5 s) if it died starting.
/// - A reload (SIGHUP) replaces the workers one slot at a time: the old worker drains, a new one starts on the
///   same socket, and the next slot's turn comes once it serves.
/// - A stop drains every worker; those still running `killAfter` later, or at a second stop, are killed.
package struct SupervisorStateMachine<C: Clock> where C.Duration == Duration {
    /// Something for the supervisor to do.
    package enum Action: Hashable, Sendable {
        /// Start a worker on the slot's socket, then report ``spawned(_:slot:now:)`` or
        /// ``spawnFailed(slot:now:)``.
        case spawn(slot: Int)
        /// Ask the worker to drain and exit (SIGTERM).
        case terminate(Int32)
        /// End the worker now (SIGKILL).
        case kill(Int32)
        /// Every worker has exited: the supervisor exits.
        case exit
    }

    private struct Slot {
        enum Phase {
            /// No worker, none coming before `respawnAt` (if any).
            case empty
            case spawning
            case starting
            case serving
        }

        var phase = Phase.empty
        var pid: Int32?
        var respawnAt: C.Instant?
        var failuresInARow = 0
    }

    private let killAfter: Duration
    private var slots: [Slot]
    /// Workers told to drain, until they exit.
    private var draining: Set<Int32> = []
    /// Slots still to be replaced by the reload in progress, and the one being replaced.
    private var reloadQueue: [Int] = []
    private var reloading: Int?
    private var stopping = false
    private var killDeadline: C.Instant?
    private var exited = false

    /// A supervisor of `workers` workers; a stop kills those still running `killAfter` after it.
    package init(workers: Int, killAfter: Duration) {
        self.slots = Array(repeating: Slot(), count: max(1, workers))
        self.killAfter = killAfter
    }

    /// The pids of the workers alive, draining ones included.
    package var pids: [Int32] { (self.slots.compactMap(\.pid) + self.draining).sorted() }

    /// The earliest instant ``tick(now:)`` has something to do.
    package var nextDeadline: C.Instant? {
        (self.slots.compactMap(\.respawnAt) + [self.killDeadline].compactMap { $0 }).min()
    }

    // MARK: Inputs

    /// The supervisor starts: a worker in every slot.
    package mutating func start(now: C.Instant) -> [Action] {
        self.slots.indices.map { self.spawn($0) }
    }

    /// The worker for `slot` was started as `pid`.
    package mutating func spawned(_ pid: Int32, slot: Int, now: C.Instant) -> [Action] {
        self.slots[slot].phase = .starting
        self.slots[slot].pid = pid
        // A stop that came while it started drains it at once.
        return self.stopping ? self.drain(slot: slot) : []
    }

    /// The worker for `slot` could not be started: tried again after the backoff.
    package mutating func spawnFailed(slot: Int, now: C.Instant) -> [Action] {
        self.slots[slot].phase = .empty
        if self.stopping { return self.exitIfDone() }
        self.scheduleRespawn(slot: slot, now: now)
        return []
    }

    /// The worker listens and serves.
    package mutating func ready(_ pid: Int32, now: C.Instant) -> [Action] {
        guard let slot = self.slot(of: pid), self.slots[slot].phase == .starting else { return [] }
        self.slots[slot].phase = .serving
        self.slots[slot].failuresInARow = 0
        guard self.reloading == slot else { return [] }
        self.reloading = nil
        return self.reloadNext()
    }

    /// The worker's process ended.
    package mutating func exited(_ pid: Int32, now: C.Instant) -> [Action] {
        if self.draining.remove(pid) != nil { return self.exitIfDone() }
        guard let slot = self.slot(of: pid) else { return [] }
        let diedStarting = self.slots[slot].phase == .starting
        self.slots[slot].phase = .empty
        self.slots[slot].pid = nil
        if self.stopping { return self.exitIfDone() }
        if diedStarting {
            self.scheduleRespawn(slot: slot, now: now)
            return []
        }
        return [self.spawn(slot)]
    }

    /// SIGHUP: replace every worker, one slot at a time; during a reload, every worker started before this one
    /// too, the slot being replaced included.
    package mutating func reload(now: C.Instant) -> [Action] {
        guard !self.stopping else { return [] }
        self.reloadQueue = Array(self.slots.indices)
        return self.reloading == nil ? self.reloadNext() : []
    }

    /// SIGTERM or SIGINT: drain every worker; a second one kills those left.
    package mutating func stop(now: C.Instant) -> [Action] {
        guard !self.stopping else { return self.pids.map { .kill($0) } }
        self.stopping = true
        self.reloadQueue = []
        self.reloading = nil
        self.killDeadline = now.advanced(by: self.killAfter)
        var actions: [Action] = []
        for slot in self.slots.indices {
            self.slots[slot].respawnAt = nil
            actions += self.drain(slot: slot)
        }
        return actions + self.exitIfDone()
    }

    /// Time passed: due respawns, and the kill deadline of a stop.
    package mutating func tick(now: C.Instant) -> [Action] {
        if let deadline = self.killDeadline, deadline <= now {
            self.killDeadline = nil
            return self.pids.map { .kill($0) }
        }
        var actions: [Action] = []
        for slot in self.slots.indices {
            guard let due = self.slots[slot].respawnAt, due <= now else { continue }
            self.slots[slot].respawnAt = nil
            actions.append(self.spawn(slot))
        }
        return actions
    }

    // MARK: Decisions

    private func slot(of pid: Int32) -> Int? {
        self.slots.firstIndex { $0.pid == pid }
    }

    private mutating func spawn(_ slot: Int) -> Action {
        self.slots[slot].phase = .spawning
        return .spawn(slot: slot)
    }

    /// Tells the slot's worker, if any, to drain; the slot is left empty.
    private mutating func drain(slot: Int) -> [Action] {
        guard let pid = self.slots[slot].pid else { return [] }
        self.slots[slot].pid = nil
        self.slots[slot].phase = .empty
        self.draining.insert(pid)
        return [.terminate(pid)]
    }

    /// The next slot of the reload: its worker drains and a new one starts on its socket.
    private mutating func reloadNext() -> [Action] {
        while !self.reloadQueue.isEmpty {
            let slot = self.reloadQueue.removeFirst()
            // A slot waiting for a respawn gets a new worker then anyway.
            guard self.slots[slot].pid != nil || self.slots[slot].phase == .spawning else { continue }
            self.reloading = slot
            guard self.slots[slot].phase != .spawning else { return [] }
            self.slots[slot].failuresInARow = 0
            return self.drain(slot: slot) + [self.spawn(slot)]
        }
        return []
    }

    private mutating func scheduleRespawn(slot: Int, now: C.Instant) {
        self.slots[slot].failuresInARow += 1
        let doublings = min(self.slots[slot].failuresInARow - 1, 6)
        let backoff = min(Duration.milliseconds(100) * (1 << doublings), .seconds(5))
        self.slots[slot].respawnAt = now.advanced(by: backoff)
    }

    private mutating func exitIfDone() -> [Action] {
        guard self.stopping, !self.exited, self.draining.isEmpty,
            self.slots.allSatisfy({ $0.pid == nil && $0.phase != .spawning })
        else { return [] }
        self.exited = true
        return [.exit]
    }
}
