// A bound on a child process's run: a test waits for its children, never for ever.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// SIGKILLs process `pid` if it still runs after `seconds`, unless `finished()` was called first.
/// A hung child then ends (its pipes close, its wait returns) and the test fails on its status
/// instead of hanging the suite.
public final class Watchdog: Sendable {
    private let done = Locked(false)

    public init(pid: Int32, seconds: Double) {
        let done = self.done
        DispatchQueue.global().asyncAfter(deadline: .now() + seconds) {
            done.with { finished in
                if !finished {
                    FileHandle.standardError.write(Data("watchdog: process \(pid) still ran after \(Int(seconds)) s: SIGKILL\n".utf8))
                    kill(pid, SIGKILL)
                }
            }
        }
    }

    /// The process has been waited for: nothing is killed (its pid may be reused from now on).
    public func finished() { done.with { $0 = true } }

    /// `child_run_s_max`: how long one wallet command of a test may run.
    public static let childRunSMax = 300.0
}
