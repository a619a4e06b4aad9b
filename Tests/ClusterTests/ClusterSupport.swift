// Helpers for tests that run real replica processes on 127.0.0.1.
import Cluster
import Foundation
import LedgerCore
import TestSupport
import XCTest

enum WalletBinary {
    /// The `wallet` executable next to the test bundle (built by the same `swift build --build-tests`).
    static var path: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("wallet").path
    }

    static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// Runs `wallet` to the end; returns its exit status and standard output.
    static func run(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let watchdog = Watchdog(pid: process.processIdentifier, seconds: Watchdog.childRunSMax)
        defer { watchdog.finished() }
        // Both pipes read to the end before waiting, so a chatty child never blocks on a full pipe.
        let errBox = StderrBox()
        let errDone = DispatchSemaphore(value: 0)
        Thread {
            errBox.data = err.fileHandleForReading.readDataToEndOfFile()
            errDone.signal()
        }.start()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        errDone.wait()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self), String(decoding: errBox.data, as: UTF8.self))
    }
}

/// Bytes read on another thread, handed over through a semaphore.
final class StderrBox: @unchecked Sendable {
    var data = Data()
}

extension LocalCluster {
    /// Waits until every listed replica reports the same applied op (equal to the commit op it
    /// knows) and returns their statuses; fails the test after `timeoutMs`.
    func waitUntilConverged(replicas: [Int]? = nil, timeoutMs: Int = 20_000, file: StaticString = #filePath, line: UInt = #line) throws -> [ReplicaStatus] {
        let wanted = replicas ?? Array(addresses.indices)
        let deadline = Date(timeIntervalSinceNow: Double(timeoutMs) / 1000)
        var policy = RetryPolicy()
        policy.requestTimeoutMs = 2_000
        var last: [ReplicaStatus] = []
        while Date() < deadline {
            let client = ClusterClient(addresses: addresses, clusterId: clusterId, key: key, policy: policy, tls: clientTLS)
            last = wanted.compactMap { try? client.status(ofReplica: $0) }
            client.close()
            if last.count == wanted.count, let first = last.first,
               last.allSatisfy({ $0.appliedOp == first.appliedOp && $0.commitOp == $0.appliedOp && $0.digest == first.digest }),
               last.contains(where: { $0.role == "leader" }) {
                return last
            }
            usleep(100_000)
        }
        XCTFail("replicas did not converge within \(timeoutMs) ms: \(last)", file: file, line: line)
        return last
    }
}
