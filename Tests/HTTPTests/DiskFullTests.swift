// A disk that fills up under a live `wallet serve`: writes pause with 503 and Retry-After, reads go
// on, and once space is back writes resume by themselves with nothing acknowledged lost.
import Foundation
import TestSupport
import XCTest

final class DiskFullTests: XCTestCase {
    /// A tmpfs of `sizeMib` mounted at `path` for the test's life (the test's own mount, removed after).
    private final class SmallFilesystem {
        let path: String
        private var mounted = false

        init(path: String, sizeMib: Int) throws {
            self.path = path
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            let mount = try runProgram("/bin/mount", ["-t", "tmpfs", "-o", "size=\(sizeMib)m", "tmpfs", path])
            guard mount.status == 0 else { throw XCTSkip("mounting a tmpfs needs root (CAP_SYS_ADMIN): \(mount.output)") }
            mounted = true
        }

        func unmount() {
            guard mounted else { return }
            mounted = false
            _ = try? runProgram("/bin/umount", [path])
        }

        deinit { unmount() }
    }

    /// Writes 256 KiB blocks into `path` until the filesystem refuses one: what is left free is less than that.
    private func fill(_ path: String) -> Int {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        defer { close(fd) }
        let block = [UInt8](repeating: 0x5A, count: 256 << 10)
        var written = 0
        while written < 1 << 30 {
            let count = block.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if count <= 0 { break }
            written += count
        }
        fsync(fd)
        return written
    }

    private struct Outcomes {
        var acknowledged: [Int] = []
        var refused: [Int] = []
        var timedOut: [Int] = []
        var refusal: RawAnswer?
    }

    func testAFullDiskPausesWritesAndTheyResumeWhenSpaceIsBack() throws {
        let directory = TemporaryDirectory()
        let filesystem = try SmallFilesystem(path: directory.path + "/small", sizeMib: 12)
        defer { filesystem.unmount() }
        let data = filesystem.path + "/data"
        XCTAssertEqual(try runWallet(["format", "--data", data, "--segment-size-mib", "2"]).status, 0)
        var server: ServeProcess? = try ServeProcess(data: data, arguments: ["--storage-retry-backoff-ms-max", "200", "--request-timeout-ms", "3000"])
        defer { server?.stop(signal: SIGKILL) }
        for id in ["1", "2"] {
            XCTAssertEqual(try server!.request("POST", "/v1/wallet/accounts", body: #"{"account_id":"\#(id)","currency":"USD"}"#).status, 201)
        }
        // What is left is less than the next 2 MiB segment: the open one fills, then rotating fails.
        let filler = filesystem.path + "/filler"
        XCTAssertGreaterThan(fill(filler), 0)

        // 16 connections write 1.00 each until the disk refuses (bounded: 60 s, 400,000 transfers).
        let state = Locked((outcomes: Outcomes(), stop: false))
        let port = server!.port
        let threads = (0..<16).map { worker in
            Thread {
                guard let connection = try? RawHTTPConnection(port: port) else { return }
                var index = 0
                while index < 25_000 {
                    if state.with({ $0.stop }) { return }
                    index += 1
                    let id = 1_000_000 * (worker + 1) + index
                    let body = #"{"from_account":"1","to_account":"2","amount":"1.00","currency":"USD","transaction_id":"\#(id)"}"#
                    connection.send("POST /v1/wallet/balance_transfer HTTP/1.1\r\nHost: t\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
                    guard let answer = connection.readAnswer() else { return }
                    state.with { shared in
                        switch (answer.status, answer.json["type"] as? String) {
                        case (201, _): shared.outcomes.acknowledged.append(id)
                        case (503, "urn:wallet:problem:storage-unavailable"?):
                            shared.outcomes.refused.append(id)
                            shared.outcomes.refusal = shared.outcomes.refusal ?? answer
                            shared.stop = true
                        case (503, "urn:wallet:problem:timeout"?): shared.outcomes.timedOut.append(id)
                        default: XCTFail("unexpected answer \(answer.status): \(answer.body)")
                        }
                    }
                }
            }
        }
        let started = Date()
        threads.forEach { $0.start() }
        while Date().timeIntervalSince(started) < 60 {
            if state.with({ $0.stop }) { break }
            usleep(20_000)
        }
        state.with { $0.stop = true }
        while threads.contains(where: { $0.isExecuting }) { usleep(10_000) }
        let outcomes = state.with { $0.outcomes }

        let refusal = try XCTUnwrap(outcomes.refusal, "no write was refused in 60 s: \(outcomes.acknowledged.count) acknowledged")
        print("disk full after \(outcomes.acknowledged.count) acknowledged transfers: \(outcomes.refused.count) refused, \(outcomes.timedOut.count) timed out")
        XCTAssertNotNil(refusal.headers["retry-after"].flatMap(Int.init), "503 names when to retry")
        XCTAssertTrue(server!.output.all.contains("write FAILED"), server!.output.all)
        // Reads go on; readiness and the metrics say writes are paused.
        XCTAssertEqual(try server!.request("GET", "/v1/wallet/accounts/1").status, 200)
        XCTAssertEqual(try server!.request("GET", "/readyz").status, 503)
        XCTAssertEqual(DoorMetrics.value(try server!.request("GET", "/metrics").text, prefix: "wallet_storage_writable"), 0)
        XCTAssertEqual(try server!.request("POST", "/v1/wallet/balance_transfer",
                                           body: #"{"from_account":"1","to_account":"2","amount":"1.00","currency":"USD","transaction_id":"7"}"#).status, 503)

        // Space comes back: writes resume by themselves (the client retries as told, at most 20 s).
        try FileManager.default.removeItem(atPath: filler)
        let resumeDeadline = Date(timeIntervalSinceNow: 20)
        var resumed: HTTPAnswer?
        while Date() < resumeDeadline {
            let answer = try server!.request("POST", "/v1/wallet/balance_transfer",
                                             body: #"{"from_account":"1","to_account":"2","amount":"1.00","currency":"USD","transaction_id":"8"}"#)
            if answer.status == 201 || answer.status == 200 { resumed = answer; break }
            usleep(100_000)
        }
        XCTAssertNotNil(resumed, "writes did not resume:\n\(server!.output.all)")
        print(server!.output.all.split(separator: "\n").filter { $0.contains("wallet serve:") }.prefix(6).joined(separator: "\n"))
        XCTAssertTrue(server!.output.all.contains("writes resumed"), server!.output.all)
        XCTAssertEqual(try server!.request("GET", "/readyz").status, 200)

        // Nothing acknowledged is lost; nothing refused was applied; what timed out may or may not be.
        let credits = try XCTUnwrap(server!.request("GET", "/v1/wallet/accounts/2").json["credits_posted"] as? String)
        let applied = try XCTUnwrap(Int(credits.split(separator: ".")[0]))
        let acknowledged = outcomes.acknowledged.count + 1  // with transfer 8
        XCTAssertGreaterThanOrEqual(applied, acknowledged)
        XCTAssertLessThanOrEqual(applied, acknowledged + outcomes.timedOut.count)
        for id in outcomes.refused.prefix(50) {
            XCTAssertEqual(try server!.request("GET", "/v1/wallet/transfers/\(id)").status, 404, "refused transfer \(id) was applied")
        }
        for id in outcomes.acknowledged.shuffled().prefix(50) {
            XCTAssertEqual(try server!.request("GET", "/v1/wallet/transfers/\(id)").status, 200, "acknowledged transfer \(id) is missing")
        }
        server!.stop()
        server = nil
        let verify = try runWallet(["verify", "--data", data])
        XCTAssertEqual(verify.status, 0, verify.output)
        XCTAssertTrue(verify.output.contains("verify: OK"), verify.output)
    }
}
