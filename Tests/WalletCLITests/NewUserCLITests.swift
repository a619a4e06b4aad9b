// What a new user hits first, through the real binary: clear refusals for empty and header-only
// files, refused records named by file and line, an existing output folder, missing parents,
// a taken port, a held writer lock, and money labelled with its unit.
import Foundation
import Glibc
import TestSupport
import XCTest

final class NewUserCLITests: XCTestCase {
    func testFilesThatHoldNothingAreSaidToHoldNothing() throws {
        let directory = TemporaryDirectory()
        let data = directory.path + "/missing/parents/data"  // format creates the parents
        try Wallet.ok(["format", "--data", data, "--cluster", "5"])
        let empty = directory.path + "/empty.csv"
        _ = FileManager.default.createFile(atPath: empty, contents: Data())
        let refused = try Wallet.run(["ingest", "--data", data, empty])
        XCTAssertEqual(refused.status, 1)
        XCTAssertTrue(refused.stderr.contains("empty.csv: the file is empty"), refused.stderr)
        XCTAssertFalse(refused.stderr.contains("mmap"), refused.stderr)
        let header = directory.path + "/header.csv"
        _ = FileManager.default.createFile(atPath: header, contents: Data("account_id,currency\n".utf8))
        let nothing = try Wallet.ok(["ingest", "--data", data, header]).stdout
        XCTAssertTrue(nothing.contains("nothing ingested: the files hold no records"), nothing)
        XCTAssertFalse(nothing.contains("ops"), nothing)
    }

    func testRefusedRecordsAreNamedByFileAndLine() throws {
        let directory = TemporaryDirectory()
        let data = directory.path + "/data"
        try Wallet.ok(["format", "--data", data, "--cluster", "5"])
        let accounts = Wallet.repositoryRoot.appendingPathComponent("data/accounts.csv").path
        let transfers = Wallet.repositoryRoot.appendingPathComponent("data/transfers.csv").path
        try Wallet.ok(["ingest", "--data", data, accounts])
        let rejects = directory.path + "/rejects.csv"
        let first = try Wallet.ok(["ingest", "--data", data, "--rejects", rejects, transfers]).stdout
        // The sample's refused transfers, each named with its line (1-based, the header is line 1).
        let lines = try String(contentsOfFile: transfers, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        let written = try String(contentsOfFile: rejects, encoding: .utf8).split(separator: "\n").dropFirst()
        XCTAssertEqual(written.count, 6, "the sample holds 6 transfers that are not applied ok: \(first)")
        for row in written {
            let fields = row.split(separator: ",", omittingEmptySubsequences: false)
            let line = try XCTUnwrap(Int(fields[1]))
            XCTAssertTrue(lines[line - 1].hasPrefix(fields[5] + ","), "line \(line) holds transfer \(fields[5]): \(lines[line - 1])")
            XCTAssertNotEqual(fields[6], "ok")
        }
        XCTAssertTrue(first.contains("refused: \(transfers) line "), first)
        XCTAssertTrue(first.contains("170 ok, 6 refused"), first)
        // Ingested again: every record is already there, and the report says so.
        let again = try Wallet.json(try Wallet.ok(["ingest", "--data", data, "--json", transfers]))
        XCTAssertEqual((again["rejects"] as? [[String: Any]])?.count, 176)
        XCTAssertGreaterThanOrEqual(again["already_there"] as? Int ?? 0, 170)
        let text = try Wallet.ok(["ingest", "--data", data, transfers]).stdout
        XCTAssertTrue(text.contains("already there"), text)
    }

    func testGenKeepsAnExistingFolderAndFormatCreatesParents() throws {
        let directory = TemporaryDirectory()
        let out = directory.path + "/gen"
        try Wallet.ok(["gen", "--accounts", "3", "--transfers", "3", "--out", out])
        let again = try Wallet.run(["gen", "--accounts", "3", "--transfers", "3", "--out", out])
        XCTAssertEqual(again.status, 1)
        XCTAssertTrue(again.stderr.contains("already holds 2 files"), again.stderr)
        try Wallet.ok(["gen", "--accounts", "3", "--transfers", "3", "--out", out, "--force"])
    }

    func testMoneyIsLabelledWithItsUnit() throws {
        let directory = TemporaryDirectory()
        let data = directory.path + "/data"
        try Wallet.ok(["format", "--data", data, "--cluster", "5"])
        try Wallet.ok(["ingest", "--data", data, Wallet.repositoryRoot.appendingPathComponent("data/accounts.csv").path,
                       Wallet.repositoryRoot.appendingPathComponent("data/transfers.csv").path])
        let text = try Wallet.ok(["balance", "--data", data, "101"]).stdout
        XCTAssertTrue(text.contains("balance -1500.00 EUR (-150000 minor units)"), text)
        XCTAssertTrue(text.contains("in minor units (10^-2 EUR)"), text)
        let json = try Wallet.json(try Wallet.ok(["balance", "--data", data, "--json", "101"]))
        XCTAssertEqual(json["balance"] as? String, "-150000")
        XCTAssertEqual(json["balance_decimal"] as? String, "-1500.00")
        XCTAssertEqual(json["unit"] as? String, "minor")
        XCTAssertEqual(json["exponent"] as? Int, 2)
        let history = try Wallet.ok(["history", "--data", data, "101"]).stdout
        XCTAssertTrue(history.contains("-300.00 EUR to 102 -> balance -300.00 EUR (-30000 minor units)"), history)
    }

    /// `serve` on a port another process listens on fails, naming the address; and while a serve
    /// holds a data directory, a writer is told which process holds it.
    func testATakenPortAndAHeldLogAreNamed() throws {
        let directory = TemporaryDirectory()
        let data = directory.path + "/data"
        try Wallet.ok(["format", "--data", data, "--cluster", "5"])
        let (listener, port) = try listenOnLoopback()
        defer { close(listener) }
        let taken = try Wallet.run(["serve", "--data", data, "--http", "127.0.0.1:\(port)"])
        XCTAssertEqual(taken.status, 1, taken.stdout)
        XCTAssertTrue(taken.stderr.contains("cannot listen on 127.0.0.1:\(port) (--http): Address already in use"), taken.stderr)
        XCTAssertFalse(taken.stdout.contains("serving"), taken.stdout)

        let serve = Process()
        serve.executableURL = Wallet.executableURL
        serve.arguments = ["serve", "--data", data, "--http", "127.0.0.1:0"]
        let out = Pipe()
        serve.standardOutput = out
        serve.standardError = FileHandle.nullDevice
        try serve.run()
        defer {
            kill(serve.processIdentifier, SIGTERM)
            serve.waitUntilExit()
        }
        let printed = LockedText()
        out.fileHandleForReading.readabilityHandler = { printed.append($0.availableData) }
        let deadline = Date(timeIntervalSinceNow: 60)
        while !printed.text.contains("serving") && Date() < deadline && serve.isRunning { usleep(20_000) }
        XCTAssertTrue(printed.text.contains("serving"), printed.text)
        let held = try Wallet.run(["ingest", "--data", data, Wallet.repositoryRoot.appendingPathComponent("data/accounts.csv").path])
        XCTAssertEqual(held.status, 1)
        XCTAssertTrue(held.stderr.contains("open for writing by process \(serve.processIdentifier): "), held.stderr)
        XCTAssertTrue(held.stderr.contains("serve --data \(data)"), held.stderr)
        out.fileHandleForReading.readabilityHandler = nil
    }

    /// `make run`'s script with its port taken stops at serve's failure, exit 1, and runs nothing after.
    func testTheRunScriptStopsWhenServeCannotListen() throws {
        let directory = TemporaryDirectory()
        let (listener, port) = try listenOnLoopback()
        defer { close(listener) }
        let script = Process()
        script.executableURL = URL(fileURLWithPath: "/bin/bash")
        script.arguments = [Wallet.repositoryRoot.appendingPathComponent("scripts/run-local.sh").path]
        script.environment = ProcessInfo.processInfo.environment.merging(
            ["WALLET": Wallet.executableURL.path, "DATA": directory.path + "/run-data", "HTTP_PORT": String(port)]) { $1 }
        let out = Pipe()
        script.standardOutput = out
        script.standardError = out
        try script.run()
        let watchdog = Watchdog(pid: script.processIdentifier, seconds: Watchdog.childRunSMax)
        defer { watchdog.finished() }
        let printed = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        script.waitUntilExit()
        XCTAssertEqual(script.terminationStatus, 1, printed)
        XCTAssertTrue(printed.contains("cannot listen on 127.0.0.1:\(port)"), printed)
        XCTAssertTrue(printed.contains("wallet serve did not start"), printed)
        XCTAssertFalse(printed.contains("GET /v1/wallet/accounts/101"), printed)
    }

    /// A socket listening on 127.0.0.1 at a port the kernel picks.
    private func listenOnLoopback() throws -> (Int32, Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && listen(fd, 4) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else {
            close(fd)
            throw NSError(domain: "NewUserCLITests", code: Int(errno), userInfo: [NSLocalizedDescriptionKey: "cannot listen on 127.0.0.1"])
        }
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }
}

/// Text appended by a pipe's reader thread, read by the test's.
final class LockedText: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    func append(_ more: Data) { lock.lock(); data.append(more); lock.unlock() }
    var text: String { lock.lock(); defer { lock.unlock() }; return String(decoding: data, as: UTF8.self) }
}
