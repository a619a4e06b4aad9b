// The wall clock, injectable: the leader stamps batches with it; nothing in the core reads it.
#if canImport(Glibc)
import Glibc
#endif

public protocol WallClock: Sendable {
    /// Nanoseconds since the Unix epoch.
    func nowNs() -> UInt64
}

public struct SystemClock: WallClock {
    public init() {}

    public func nowNs() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }
}

/// Monotonic nanoseconds, for measuring durations (never stored).
public func monotonicNowNs() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}
