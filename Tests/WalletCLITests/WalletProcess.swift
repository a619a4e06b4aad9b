// Runs the built `wallet` executable as a real process and captures what it prints.
import Foundation
import TestSupport
import XCTest

struct ProcessOutput {
    let status: Int32
    let stdout: String
    let stderr: String
}

/// Bytes read on another thread; handed over through a semaphore, so never raced.
final class Collector: @unchecked Sendable {
    var data = Data()
}

enum Wallet {
    /// The `wallet` binary next to the test bundle (both are products of the same build).
    static var executableURL: URL {
        let products = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        return products.appendingPathComponent("wallet")
    }

    /// The repository's root, for the sample files in data/.
    static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    @discardableResult
    static func run(_ arguments: [String], file: StaticString = #filePath, line: UInt = #line) throws -> ProcessOutput {
        let process = Process()
        process.executableURL = executableURL
        process.arguments = arguments
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let watchdog = Watchdog(pid: process.processIdentifier, seconds: Watchdog.childRunSMax)
        defer { watchdog.finished() }
        // Read both pipes to the end before waiting, so a chatty child never blocks on a full pipe.
        let errCollector = Collector()
        let errDone = DispatchSemaphore(value: 0)
        let errReader = Thread {
            errCollector.data = err.fileHandleForReading.readDataToEndOfFile()
            errDone.signal()
        }
        errReader.start()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        errDone.wait()
        return ProcessOutput(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                             stderr: String(decoding: errCollector.data, as: UTF8.self))
    }

    /// Runs and requires exit status 0.
    @discardableResult
    static func ok(_ arguments: [String], file: StaticString = #filePath, line: UInt = #line) throws -> ProcessOutput {
        let output = try run(arguments)
        XCTAssertEqual(output.status, 0, "wallet \(arguments.joined(separator: " ")) failed: \(output.stderr)", file: file, line: line)
        return output
    }

    /// Parses the single JSON object a `--json` command prints.
    static func json(_ output: ProcessOutput) throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(output.stdout.utf8))
        return try XCTUnwrap(object as? [String: Any])
    }
}
