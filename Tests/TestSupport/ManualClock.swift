/// A clock whose time moves only when a test says so: state machines take their `now` from it, and nothing sleeps.
public struct ManualClock: Clock {
    /// A point on the manual clock: the time since it started.
    public struct Instant: InstantProtocol {
        public var offset: Duration

        public func advanced(by duration: Duration) -> Self { Self(offset: self.offset + duration) }
        public func duration(to other: Self) -> Duration { other.offset - self.offset }
        public static func < (lhs: Self, rhs: Self) -> Bool { lhs.offset < rhs.offset }
    }

    /// Thrown by ``sleep(until:tolerance:)``: state-machine tests move time, they never wait for it.
    public struct SleepUnsupported: Error {}

    public var now = Instant(offset: .zero)
    public var minimumResolution: Duration { .zero }

    public init() {}

    /// Moves the clock forward by `duration`.
    public mutating func advance(by duration: Duration) {
        self.now = self.now.advanced(by: duration)
    }

    public func sleep(until deadline: Instant, tolerance: Duration?) async throws {
        throw SleepUnsupported()
    }
}
