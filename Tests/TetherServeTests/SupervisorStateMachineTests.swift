import TestSupport
import Testing
import TetherServe

private typealias Machine = SupervisorStateMachine<ManualClock>
private typealias Action = Machine.Action

/// The instant `offset` after the manual clock started.
private func instant(_ offset: Duration) -> ManualClock.Instant {
    ManualClock().now.advanced(by: offset)
}

/// A supervisor's state machine and its clock: every input takes its `now` from the clock, which moves only when
/// the test moves it.
private struct Harness {
    var machine: Machine
    var clock = ManualClock()

    init(workers: Int, killAfter: Duration = .seconds(35)) {
        self.machine = Machine(workers: workers, killAfter: killAfter)
    }

    /// `workers` workers serving, pids 101, 102, … in slots 0, 1, …, at instant zero.
    static func serving(_ workers: Int, killAfter: Duration = .seconds(35)) -> Harness {
        var harness = Harness(workers: workers, killAfter: killAfter)
        let spawns = harness.start()
        precondition(spawns == (0..<workers).map { .spawn(slot: $0) })
        for slot in 0..<workers {
            let pid = Int32(101 + slot)
            precondition(harness.spawned(pid, slot: slot).isEmpty)
            precondition(harness.ready(pid).isEmpty)
        }
        return harness
    }

    var pids: [Int32] { self.machine.pids }
    var nextDeadline: ManualClock.Instant? { self.machine.nextDeadline }

    mutating func advance(by duration: Duration) { self.clock.advance(by: duration) }
    mutating func advance(to offset: Duration) { self.clock.now = instant(offset) }

    mutating func start() -> [Action] { self.machine.start(now: self.clock.now) }
    mutating func spawned(_ pid: Int32, slot: Int) -> [Action] {
        self.machine.spawned(pid, slot: slot, now: self.clock.now)
    }
    mutating func spawnFailed(slot: Int) -> [Action] { self.machine.spawnFailed(slot: slot, now: self.clock.now) }
    mutating func ready(_ pid: Int32) -> [Action] { self.machine.ready(pid, now: self.clock.now) }
    mutating func exited(_ pid: Int32) -> [Action] { self.machine.exited(pid, now: self.clock.now) }
    mutating func reload() -> [Action] { self.machine.reload(now: self.clock.now) }
    mutating func stop() -> [Action] { self.machine.stop(now: self.clock.now) }
    mutating func tick() -> [Action] { self.machine.tick(now: self.clock.now) }
}

/// The supervisor's decisions, input by input, on a manual clock: no process, no signal, no sleeping.
@Suite struct SupervisorStateMachineTests {
    // MARK: Start

    @Test(arguments: [1, 2, 4])
    func startSpawnsOneWorkerPerSlot(workers: Int) {
        var harness = Harness(workers: workers)
        #expect(harness.pids == [])
        #expect(harness.nextDeadline == nil)
        #expect(harness.start() == (0..<workers).map { .spawn(slot: $0) })
        #expect(harness.pids == [])
        #expect(harness.nextDeadline == nil)
    }

    @Test func zeroWorkersMeansOne() {
        var harness = Harness(workers: 0)
        #expect(harness.start() == [.spawn(slot: 0)])
    }

    @Test func spawnedThenReady() {
        var harness = Harness(workers: 2)
        #expect(harness.start() == [.spawn(slot: 0), .spawn(slot: 1)])
        #expect(harness.spawned(102, slot: 1) == [])
        #expect(harness.pids == [102])
        #expect(harness.spawned(101, slot: 0) == [])
        #expect(harness.pids == [101, 102])
        #expect(harness.ready(101) == [])
        #expect(harness.ready(102) == [])
        // Ready twice, or for a pid that is no worker: nothing.
        #expect(harness.ready(101) == [])
        #expect(harness.ready(999) == [])
        #expect(harness.pids == [101, 102])
        #expect(harness.nextDeadline == nil)
        #expect(harness.tick() == [])
    }

    // MARK: Crashes and backoff

    @Test func servingWorkerCrashIsReplacedAtOnceInItsSlot() {
        var harness = Harness.serving(3)
        harness.advance(by: .seconds(60))
        #expect(harness.exited(102) == [.spawn(slot: 1)])
        #expect(harness.pids == [101, 103])
        #expect(harness.nextDeadline == nil)
        #expect(harness.spawned(201, slot: 1) == [])
        #expect(harness.pids == [101, 103, 201])
        #expect(harness.ready(201) == [])
        // Its successor crashing once it serves is replaced at once too.
        #expect(harness.exited(201) == [.spawn(slot: 1)])
        #expect(harness.exited(101) == [.spawn(slot: 0)])
        #expect(harness.pids == [103])
    }

    @Test func startingWorkerDeathBacksOffDoublingUpToFiveSeconds() {
        var harness = Harness(workers: 1)
        #expect(harness.start() == [.spawn(slot: 0)])
        let backoffs: [Duration] = [
            .milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800), .milliseconds(1600),
            .milliseconds(3200), .seconds(5), .seconds(5), .seconds(5),
        ]
        var pid: Int32 = 100
        for backoff in backoffs {
            pid += 1
            #expect(harness.spawned(pid, slot: 0) == [])
            harness.advance(by: .milliseconds(30))
            #expect(harness.exited(pid) == [], "backoff \(backoff)")
            #expect(harness.pids == [])
            let due = harness.clock.now.advanced(by: backoff)
            #expect(harness.nextDeadline == due, "backoff \(backoff)")
            harness.advance(by: backoff - .milliseconds(1))
            #expect(harness.tick() == [], "a millisecond before the backoff \(backoff) ends")
            #expect(harness.nextDeadline == due)
            harness.advance(by: .milliseconds(1))
            #expect(harness.tick() == [.spawn(slot: 0)], "backoff \(backoff)")
            #expect(harness.nextDeadline == nil)
            #expect(harness.tick() == [])
        }
    }

    @Test func lateTickSpawnsAndTheNextBackoffCountsFromTheDeath() {
        var harness = Harness(workers: 1)
        #expect(harness.start() == [.spawn(slot: 0)])
        #expect(harness.spawned(101, slot: 0) == [])
        #expect(harness.exited(101) == [])
        #expect(harness.nextDeadline == instant(.milliseconds(100)))
        harness.advance(to: .seconds(2))
        #expect(harness.tick() == [.spawn(slot: 0)])
        #expect(harness.spawned(102, slot: 0) == [])
        harness.advance(to: .milliseconds(2500))
        #expect(harness.exited(102) == [])
        #expect(harness.nextDeadline == instant(.milliseconds(2700)))
    }

    @Test func backoffResetsOnceAWorkerIsReady() {
        var harness = Harness(workers: 1)
        #expect(harness.start() == [.spawn(slot: 0)])
        // Three deaths while starting: 100, 200, 400 ms.
        var pid: Int32 = 100
        for backoff in [100, 200, 400] {
            pid += 1
            #expect(harness.spawned(pid, slot: 0) == [])
            #expect(harness.exited(pid) == [])
            #expect(harness.nextDeadline == harness.clock.now.advanced(by: .milliseconds(backoff)))
            harness.advance(by: .milliseconds(backoff))
            #expect(harness.tick() == [.spawn(slot: 0)])
        }
        #expect(harness.spawned(104, slot: 0) == [])
        #expect(harness.ready(104) == [])
        harness.advance(by: .seconds(10))
        // It served: its crash is replaced at once, and its successor's death starting waits 100 ms, not 800.
        #expect(harness.exited(104) == [.spawn(slot: 0)])
        #expect(harness.nextDeadline == nil)
        #expect(harness.spawned(105, slot: 0) == [])
        #expect(harness.exited(105) == [])
        #expect(harness.nextDeadline == harness.clock.now.advanced(by: .milliseconds(100)))
    }

    @Test func spawnFailureBacksOffAndResetsOnceAWorkerIsReady() {
        var harness = Harness(workers: 1)
        #expect(harness.start() == [.spawn(slot: 0)])
        for backoff in [100, 200, 400, 800, 1600, 3200, 5000, 5000] {
            #expect(harness.spawnFailed(slot: 0) == [])
            #expect(harness.pids == [])
            let due = harness.clock.now.advanced(by: .milliseconds(backoff))
            #expect(harness.nextDeadline == due, "backoff \(backoff) ms")
            harness.advance(by: .milliseconds(backoff - 1))
            #expect(harness.tick() == [])
            harness.advance(by: .milliseconds(1))
            #expect(harness.tick() == [.spawn(slot: 0)], "backoff \(backoff) ms")
            #expect(harness.nextDeadline == nil)
        }
        #expect(harness.spawned(101, slot: 0) == [])
        #expect(harness.ready(101) == [])
        #expect(harness.exited(101) == [.spawn(slot: 0)])
        #expect(harness.spawnFailed(slot: 0) == [])
        #expect(harness.nextDeadline == harness.clock.now.advanced(by: .milliseconds(100)))
    }

    @Test func spawnFailureAndDeathWhileStartingShareTheBackoff() {
        var harness = Harness(workers: 1)
        #expect(harness.start() == [.spawn(slot: 0)])
        #expect(harness.spawnFailed(slot: 0) == [])
        harness.advance(by: .milliseconds(100))
        #expect(harness.tick() == [.spawn(slot: 0)])
        #expect(harness.spawned(101, slot: 0) == [])
        #expect(harness.exited(101) == [])
        #expect(harness.nextDeadline == harness.clock.now.advanced(by: .milliseconds(200)))
    }

    @Test func slotsBackOffIndependently() {
        var harness = Harness(workers: 3)
        #expect(harness.start() == [.spawn(slot: 0), .spawn(slot: 1), .spawn(slot: 2)])
        #expect(harness.spawned(101, slot: 0) == [])
        #expect(harness.spawned(102, slot: 1) == [])
        #expect(harness.spawned(103, slot: 2) == [])
        #expect(harness.ready(103) == [])
        #expect(harness.exited(101) == [])  // due at 100 ms
        harness.advance(to: .milliseconds(30))
        #expect(harness.exited(102) == [])  // due at 130 ms
        #expect(harness.nextDeadline == instant(.milliseconds(100)))
        #expect(harness.pids == [103])
        harness.advance(to: .milliseconds(100))
        #expect(harness.tick() == [.spawn(slot: 0)])
        #expect(harness.nextDeadline == instant(.milliseconds(130)))
        #expect(harness.spawned(201, slot: 0) == [])
        #expect(harness.exited(201) == [])  // slot 0's second death: due at 300 ms
        #expect(harness.nextDeadline == instant(.milliseconds(130)))
        harness.advance(to: .milliseconds(129))
        #expect(harness.tick() == [])
        harness.advance(to: .milliseconds(130))
        #expect(harness.tick() == [.spawn(slot: 1)])
        #expect(harness.nextDeadline == instant(.milliseconds(300)))
        #expect(harness.spawned(202, slot: 1) == [])
        #expect(harness.exited(202) == [])  // slot 1's second death: due at 330 ms
        harness.advance(to: .seconds(1))
        #expect(harness.tick() == [.spawn(slot: 0), .spawn(slot: 1)])
        #expect(harness.nextDeadline == nil)
    }

    @Test func exitOfAnUnknownPidIsIgnored() {
        var harness = Harness.serving(2)
        #expect(harness.exited(999) == [])
        #expect(harness.exited(0) == [])
        #expect(harness.pids == [101, 102])
        #expect(harness.nextDeadline == nil)
        #expect(harness.exited(101) == [.spawn(slot: 0)])
        // Reported twice: the second is unknown.
        #expect(harness.exited(101) == [])
    }

    // MARK: Reload

    @Test func reloadReplacesOneSlotAtATimeEachOnceTheLastIsReady() {
        var harness = Harness.serving(3)
        #expect(harness.reload() == [.terminate(101), .spawn(slot: 0)])
        #expect(harness.pids == [101, 102, 103])
        #expect(harness.spawned(201, slot: 0) == [])
        #expect(harness.pids == [101, 102, 103, 201])
        // The old worker draining away, or another worker's readiness, moves nothing on.
        #expect(harness.exited(101) == [])
        #expect(harness.ready(102) == [])
        #expect(harness.ready(999) == [])
        #expect(harness.tick() == [])
        #expect(harness.pids == [102, 103, 201])
        #expect(harness.ready(201) == [.terminate(102), .spawn(slot: 1)])
        #expect(harness.spawned(202, slot: 1) == [])
        #expect(harness.ready(202) == [.terminate(103), .spawn(slot: 2)])
        #expect(harness.pids == [102, 103, 201, 202])
        #expect(harness.spawned(203, slot: 2) == [])
        #expect(harness.ready(203) == [])
        #expect(harness.exited(102) == [])
        #expect(harness.exited(103) == [])
        #expect(harness.pids == [201, 202, 203])
        #expect(harness.nextDeadline == nil)
        // Once it is over, workers are replaced as ever, and a new reload starts from slot 0.
        #expect(harness.exited(202) == [.spawn(slot: 1)])
        #expect(harness.spawned(302, slot: 1) == [])
        #expect(harness.ready(302) == [])
        #expect(harness.reload() == [.terminate(201), .spawn(slot: 0)])
    }

    @Test func reloadOfASingleWorker() {
        var harness = Harness.serving(1)
        #expect(harness.reload() == [.terminate(101), .spawn(slot: 0)])
        #expect(harness.spawned(201, slot: 0) == [])
        #expect(harness.ready(201) == [])
        #expect(harness.exited(101) == [])
        #expect(harness.pids == [201])
    }

    /// A SIGHUP is sent so that every worker starts anew (and reads its configuration anew); a second one during
    /// a reload must replace every worker started before it, the one the first reload is starting included.
    @Test func secondReloadDuringAReloadReplacesEveryWorkerStartedBeforeIt() {
        var harness = Harness.serving(3)
        #expect(harness.reload() == [.terminate(101), .spawn(slot: 0)])
        #expect(harness.spawned(201, slot: 0) == [])
        #expect(harness.exited(101) == [])
        // 201 started after the first reload, before the second.
        var pending = harness.reload()
        var starting: [Int32] = [201]
        var terminated: [Int32] = []
        var nextPid: Int32 = 301
        // Carry the actions out: spawns succeed, drained workers exit at once, new workers are ready in turn.
        for _ in 0..<20 {
            while !pending.isEmpty {
                switch pending.removeFirst() {
                case .spawn(let slot):
                    pending += harness.spawned(nextPid, slot: slot)
                    starting.append(nextPid)
                    nextPid += 1
                case .terminate(let pid):
                    terminated.append(pid)
                    pending += harness.exited(pid)
                case let action:
                    Issue.record("unexpected \(action)")
                }
            }
            #expect(starting.count <= 1, "a reload replaces one slot at a time")
            guard !starting.isEmpty else { break }
            pending = harness.ready(starting.removeFirst())
        }
        #expect(terminated.sorted() == [102, 103, 201])
        #expect(harness.pids == [301, 302, 303])
    }

    @Test func reloadIsIgnoredWhileStopping() {
        var harness = Harness.serving(2)
        #expect(harness.stop() == [.terminate(101), .terminate(102)])
        #expect(harness.reload() == [])
        #expect(harness.pids == [101, 102])
        #expect(harness.exited(101) == [])
        #expect(harness.reload() == [])
        #expect(harness.exited(102) == [.exit])
    }

    @Test func newWorkerDyingWhileStartingDuringAReloadIsRetriedAfterTheBackoff() {
        var harness = Harness.serving(2)
        #expect(harness.reload() == [.terminate(101), .spawn(slot: 0)])
        #expect(harness.spawned(201, slot: 0) == [])
        #expect(harness.exited(101) == [])
        harness.advance(to: .seconds(1))
        #expect(harness.exited(201) == [])
        #expect(harness.pids == [102])
        #expect(harness.nextDeadline == instant(.milliseconds(1100)))
        harness.advance(to: .milliseconds(1099))
        #expect(harness.tick() == [])
        harness.advance(to: .milliseconds(1100))
        #expect(harness.tick() == [.spawn(slot: 0)])
        #expect(harness.spawned(301, slot: 0) == [])
        // The reload goes on once slot 0's worker serves.
        #expect(harness.ready(301) == [.terminate(102), .spawn(slot: 1)])
        #expect(harness.spawned(302, slot: 1) == [])
        #expect(harness.ready(302) == [])
        #expect(harness.exited(102) == [])
        #expect(harness.pids == [301, 302])
    }

    @Test func spawnFailureDuringAReloadIsRetriedAfterTheBackoff() {
        var harness = Harness.serving(2)
        #expect(harness.reload() == [.terminate(101), .spawn(slot: 0)])
        #expect(harness.spawnFailed(slot: 0) == [])
        #expect(harness.nextDeadline == instant(.milliseconds(100)))
        harness.advance(to: .milliseconds(100))
        #expect(harness.tick() == [.spawn(slot: 0)])
        #expect(harness.spawned(201, slot: 0) == [])
        #expect(harness.ready(201) == [.terminate(102), .spawn(slot: 1)])
    }

    @Test func reloadRestartsTheBackoffOfTheSlotItReplaces() {
        var harness = Harness(workers: 1)
        #expect(harness.start() == [.spawn(slot: 0)])
        #expect(harness.spawned(101, slot: 0) == [])
        #expect(harness.exited(101) == [])
        harness.advance(to: .milliseconds(100))
        #expect(harness.tick() == [.spawn(slot: 0)])
        #expect(harness.spawned(102, slot: 0) == [])
        #expect(harness.exited(102) == [])
        harness.advance(to: .milliseconds(300))
        #expect(harness.tick() == [.spawn(slot: 0)])
        #expect(harness.spawned(103, slot: 0) == [])
        // 103 is starting after two deaths; the reload replaces it and forgets them.
        #expect(harness.reload() == [.terminate(103), .spawn(slot: 0)])
        #expect(harness.spawned(104, slot: 0) == [])
        #expect(harness.exited(103) == [])
        #expect(harness.exited(104) == [])
        #expect(harness.nextDeadline == instant(.milliseconds(400)))
    }

    @Test func reloadSkipsASlotWaitingForItsRespawn() {
        var harness = Harness(workers: 2)
        #expect(harness.start() == [.spawn(slot: 0), .spawn(slot: 1)])
        #expect(harness.spawned(101, slot: 0) == [])
        #expect(harness.spawned(102, slot: 1) == [])
        #expect(harness.ready(102) == [])
        #expect(harness.exited(101) == [])
        // Slot 0 gets a new worker at 100 ms anyway.
        #expect(harness.reload() == [.terminate(102), .spawn(slot: 1)])
        #expect(harness.spawned(202, slot: 1) == [])
        #expect(harness.ready(202) == [])
        harness.advance(to: .milliseconds(100))
        #expect(harness.tick() == [.spawn(slot: 0)])
        #expect(harness.spawned(201, slot: 0) == [])
        #expect(harness.ready(201) == [])
        #expect(harness.pids == [102, 201, 202])
    }

    @Test func servingWorkerCrashDuringAReload() {
        var harness = Harness.serving(3)
        #expect(harness.reload() == [.terminate(101), .spawn(slot: 0)])
        #expect(harness.spawned(201, slot: 0) == [])
        // Slot 2's worker, still waiting for its turn, crashes: replaced at once, as ever.
        #expect(harness.exited(103) == [.spawn(slot: 2)])
        #expect(harness.spawned(303, slot: 2) == [])
        #expect(harness.ready(303) == [])
        #expect(harness.pids == [101, 102, 201, 303])
        // Its readiness does not move the reload on; slot 0's does.
        #expect(harness.ready(201) == [.terminate(102), .spawn(slot: 1)])
        #expect(harness.spawned(202, slot: 1) == [])
        // Slot 2's turn comes and replaces the worker it has.
        #expect(harness.ready(202) == [.terminate(303), .spawn(slot: 2)])
        #expect(harness.spawned(203, slot: 2) == [])
        #expect(harness.ready(203) == [])
    }

    @Test func drainingWorkerCrashDuringAReloadIsNotReplaced() {
        var harness = Harness.serving(2)
        #expect(harness.reload() == [.terminate(101), .spawn(slot: 0)])
        #expect(harness.exited(101) == [])
        #expect(harness.pids == [102])
        #expect(harness.nextDeadline == nil)
        #expect(harness.spawned(201, slot: 0) == [])
        #expect(harness.ready(201) == [.terminate(102), .spawn(slot: 1)])
    }

    // MARK: Stop

    @Test func stopTerminatesEveryWorkerAndExitsOnceAllHaveExited() {
        var harness = Harness(workers: 3)
        #expect(harness.start() == [.spawn(slot: 0), .spawn(slot: 1), .spawn(slot: 2)])
        #expect(harness.spawned(101, slot: 0) == [])
        #expect(harness.ready(101) == [])
        #expect(harness.spawned(102, slot: 1) == [])  // starting: not ready
        // Slot 2's spawn is under way when the stop comes.
        harness.advance(to: .seconds(1))
        #expect(harness.stop() == [.terminate(101), .terminate(102)])
        #expect(harness.pids == [101, 102])
        #expect(harness.nextDeadline == instant(.seconds(36)))
        // The worker spawned after the stop is told to drain at once.
        #expect(harness.spawned(103, slot: 2) == [.terminate(103)])
        #expect(harness.pids == [101, 102, 103])
        #expect(harness.ready(103) == [])
        #expect(harness.exited(101) == [])
        #expect(harness.exited(999) == [])
        #expect(harness.exited(103) == [])
        #expect(harness.pids == [102])
        #expect(harness.exited(102) == [.exit])
        #expect(harness.pids == [])
        // Exactly once.
        #expect(harness.exited(102) == [])
        #expect(harness.exited(999) == [])
        #expect(harness.stop() == [])
        #expect(harness.reload() == [])
        harness.advance(to: .seconds(36))
        #expect(harness.tick() == [])
    }

    @Test func stopWaitsForDrainingWorkersOfAReload() {
        var harness = Harness.serving(2)
        #expect(harness.reload() == [.terminate(101), .spawn(slot: 0)])
        #expect(harness.spawned(201, slot: 0) == [])
        #expect(harness.stop() == [.terminate(201), .terminate(102)])
        #expect(harness.pids == [101, 102, 201])
        // The reload is over: 201's readiness starts no next slot.
        #expect(harness.ready(201) == [])
        #expect(harness.exited(201) == [])
        #expect(harness.exited(102) == [])
        #expect(harness.pids == [101])
        #expect(harness.exited(101) == [.exit])
    }

    @Test func stopDuringAReloadsSpawnWaitsForIt() {
        var harness = Harness.serving(2)
        #expect(harness.reload() == [.terminate(101), .spawn(slot: 0)])
        #expect(harness.stop() == [.terminate(102)])
        #expect(harness.exited(101) == [])
        #expect(harness.exited(102) == [])
        #expect(harness.spawned(201, slot: 0) == [.terminate(201)])
        #expect(harness.exited(201) == [.exit])
    }

    @Test func stopWaitsForASpawnThatThenFails() {
        var harness = Harness(workers: 2)
        #expect(harness.start() == [.spawn(slot: 0), .spawn(slot: 1)])
        #expect(harness.spawned(101, slot: 0) == [])
        #expect(harness.stop() == [.terminate(101)])
        #expect(harness.exited(101) == [])
        #expect(harness.spawnFailed(slot: 1) == [.exit])
        #expect(harness.nextDeadline == instant(.seconds(35)))
        #expect(harness.spawnFailed(slot: 1) == [])
    }

    @Test func stopCancelsPendingRespawns() {
        var harness = Harness(workers: 2)
        #expect(harness.start() == [.spawn(slot: 0), .spawn(slot: 1)])
        #expect(harness.spawned(101, slot: 0) == [])
        #expect(harness.ready(101) == [])
        #expect(harness.spawned(102, slot: 1) == [])
        #expect(harness.exited(102) == [])
        #expect(harness.nextDeadline == instant(.milliseconds(100)))
        harness.advance(to: .milliseconds(50))
        #expect(harness.stop() == [.terminate(101)])
        #expect(harness.nextDeadline == instant(.milliseconds(35_050)))
        harness.advance(to: .milliseconds(100))
        #expect(harness.tick() == [])
        #expect(harness.exited(101) == [.exit])
    }

    @Test func stopWithNoWorkerExitsAtOnce() {
        var harness = Harness(workers: 1)
        #expect(harness.start() == [.spawn(slot: 0)])
        #expect(harness.spawnFailed(slot: 0) == [])
        #expect(harness.stop() == [.exit])
        #expect(harness.stop() == [])
        harness.advance(to: .seconds(1))
        #expect(harness.tick() == [])
    }

    @Test func workerSpawnedAfterTheStopDrainsAtOnce() {
        var harness = Harness(workers: 2)
        #expect(harness.start() == [.spawn(slot: 0), .spawn(slot: 1)])
        #expect(harness.spawned(101, slot: 0) == [])
        #expect(harness.ready(101) == [])
        #expect(harness.stop() == [.terminate(101)])
        #expect(harness.spawned(102, slot: 1) == [.terminate(102)])
        #expect(harness.exited(102) == [])
        #expect(harness.exited(101) == [.exit])
    }

    @Test func killDeadlineKillsTheStragglersOnTick() {
        var harness = Harness.serving(3, killAfter: .seconds(35))
        harness.advance(to: .seconds(1))
        #expect(harness.stop() == [.terminate(101), .terminate(102), .terminate(103)])
        #expect(harness.nextDeadline == instant(.seconds(36)))
        harness.advance(to: .seconds(10))
        #expect(harness.exited(101) == [])
        #expect(harness.tick() == [])
        harness.advance(to: .seconds(36) - .milliseconds(1))
        #expect(harness.tick() == [])
        harness.advance(to: .seconds(36))
        #expect(harness.tick() == [.kill(102), .kill(103)])
        #expect(harness.nextDeadline == nil)
        harness.advance(to: .seconds(40))
        #expect(harness.tick() == [])
        #expect(harness.pids == [102, 103])
        #expect(harness.exited(103) == [])
        #expect(harness.exited(102) == [.exit])
    }

    @Test func killDeadlineKillsDrainingWorkersAndOnesSpawnedAfterTheStop() {
        var harness = Harness.serving(2, killAfter: .seconds(5))
        #expect(harness.reload() == [.terminate(101), .spawn(slot: 0)])
        #expect(harness.stop() == [.terminate(102)])
        #expect(harness.spawned(201, slot: 0) == [.terminate(201)])
        harness.advance(to: .seconds(7))
        // Late: it kills all the same.
        #expect(harness.tick() == [.kill(101), .kill(102), .kill(201)])
        #expect(harness.exited(101) == [])
        #expect(harness.exited(201) == [])
        #expect(harness.exited(102) == [.exit])
    }

    @Test func secondStopKillsAtOnce() {
        var harness = Harness.serving(3)
        #expect(harness.stop() == [.terminate(101), .terminate(102), .terminate(103)])
        #expect(harness.exited(102) == [])
        harness.advance(to: .seconds(2))
        #expect(harness.stop() == [.kill(101), .kill(103)])
        #expect(harness.exited(101) == [])
        #expect(harness.stop() == [.kill(103)])
        #expect(harness.exited(103) == [.exit])
        #expect(harness.stop() == [])
    }

    // MARK: Deadlines and pids

    @Test func nextDeadlineIsTheEarliestOfRespawnsAndTheKillDeadline() {
        var harness = Harness(workers: 2, killAfter: .milliseconds(150))
        #expect(harness.start() == [.spawn(slot: 0), .spawn(slot: 1)])
        #expect(harness.nextDeadline == nil)
        #expect(harness.spawnFailed(slot: 0) == [])
        #expect(harness.nextDeadline == instant(.milliseconds(100)))
        harness.advance(to: .milliseconds(50))
        #expect(harness.spawnFailed(slot: 1) == [])
        #expect(harness.nextDeadline == instant(.milliseconds(100)))
        harness.advance(to: .milliseconds(100))
        #expect(harness.tick() == [.spawn(slot: 0)])
        #expect(harness.nextDeadline == instant(.milliseconds(150)))
        #expect(harness.spawned(101, slot: 0) == [])
        harness.advance(to: .milliseconds(120))
        #expect(harness.stop() == [.terminate(101)])
        #expect(harness.nextDeadline == instant(.milliseconds(270)))
    }

    @Test func pidsListsSlotsAndDrainingWorkersInOrder() {
        var harness = Harness(workers: 3)
        #expect(harness.start() == [.spawn(slot: 0), .spawn(slot: 1), .spawn(slot: 2)])
        #expect(harness.spawned(30, slot: 0) == [])
        #expect(harness.spawned(10, slot: 1) == [])
        #expect(harness.spawned(20, slot: 2) == [])
        #expect(harness.pids == [10, 20, 30])
        #expect(harness.ready(30) == [])
        #expect(harness.ready(10) == [])
        #expect(harness.ready(20) == [])
        #expect(harness.reload() == [.terminate(30), .spawn(slot: 0)])
        #expect(harness.spawned(5, slot: 0) == [])
        #expect(harness.pids == [5, 10, 20, 30])
        #expect(harness.exited(30) == [])
        #expect(harness.pids == [5, 10, 20])
    }
}
