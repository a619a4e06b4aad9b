// A real `wallet serve` process on 127.0.0.1 and a real HTTP client (URLSession over libcurl).
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import TestSupport
import XCTest

struct HTTPAnswer {
    let status: Int
    let headers: [String: String]
    let body: Data

    var json: [String: Any] { ((try? JSONSerialization.jsonObject(with: body)) as? [String: Any]) ?? [:] }
    var text: String { String(decoding: body, as: UTF8.self) }
}

/// Bytes read on another thread; handed over through a lock.
final class OutputLines: @unchecked Sendable {
    private let lock = NSLock()
    private var text = ""
    func append(_ data: Data) { lock.lock(); text += String(decoding: data, as: UTF8.self); lock.unlock() }
    var all: String { lock.lock(); defer { lock.unlock() }; return text }
}

/// Starts `wallet serve` on a free port and stops it (by PID) at the end.
final class ServeProcess {
    let process = Process()
    let output = OutputLines()
    private(set) var baseURL = ""
    let data: String

    static var walletURL: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("wallet")
    }

    /// Formats `data` first unless it exists.
    init(data: String, arguments: [String] = []) throws {
        self.data = data
        if !FileManager.default.fileExists(atPath: data) {
            let format = Process()
            format.executableURL = ServeProcess.walletURL
            format.arguments = ["format", "--data", data]
            format.standardOutput = FileHandle.nullDevice
            try format.run()
            format.waitUntilExit()
            precondition(format.terminationStatus == 0)
        }
        process.executableURL = ServeProcess.walletURL
        process.arguments = ["serve", "--data", data, "--http", "127.0.0.1:0"] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        let output = self.output
        pipe.fileHandleForReading.readabilityHandler = { handle in
            let chunk = handle.availableData
            if !chunk.isEmpty { output.append(chunk) }
        }
        try process.run()
        let deadline = Date(timeIntervalSinceNow: 20)
        while Date() < deadline {
            if let range = output.all.range(of: #"http://127\.0\.0\.1:[0-9]+"#, options: .regularExpression) {
                baseURL = String(output.all[range])
                return
            }
            guard process.isRunning else { break }
            usleep(20_000)
        }
        process.terminate()
        throw NSError(domain: "ServeProcess", code: 1, userInfo: [NSLocalizedDescriptionKey: "wallet serve did not start: \(output.all)"])
    }

    var port: Int { Int(baseURL.split(separator: ":").last!)! }

    func stop(signal: Int32 = SIGTERM) {
        guard process.isRunning else { return }
        kill(process.processIdentifier, signal)
        process.waitUntilExit()
    }

    deinit { stop(signal: SIGKILL) }

    /// One request with URLSession, waited for (at most 10 s).
    func request(_ method: String, _ path: String, body: String? = nil, headers: [String: String] = [:]) throws -> HTTPAnswer {
        try httpRequest(baseURL: baseURL, method, path, body: body, headers: headers)
    }
}

/// Runs the `wallet` binary to the end: its exit status and what it printed (stdout, then stderr).
func runWallet(_ arguments: [String]) throws -> (status: Int32, output: String) {
    try runProgram(ServeProcess.walletURL.path, arguments)
}

/// Runs a program to the end: its exit status and what it printed (stdout and stderr together).
func runProgram(_ path: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let watchdog = Watchdog(pid: process.processIdentifier, seconds: Watchdog.childRunSMax)
    defer { watchdog.finished() }
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// One request with URLSession to `baseURL` (`http://127.0.0.1:PORT`), waited for (at most 15 s).
func httpRequest(baseURL: String, _ method: String, _ path: String, body: String? = nil, headers: [String: String] = [:]) throws -> HTTPAnswer {
    do {
        var request = URLRequest(url: URL(string: baseURL + path)!)
        request.httpMethod = method
        request.timeoutInterval = 10
        if let body {
            request.httpBody = Data(body.utf8)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        let done = DispatchSemaphore(value: 0)
        let box = AnswerBox()
        URLSession.shared.dataTask(with: request) { data, response, error in
            box.set(data: data, response: response as? HTTPURLResponse, error: error)
            done.signal()
        }.resume()
        guard done.wait(timeout: .now() + 15) == .success else { throw NSError(domain: "HTTP", code: 2, userInfo: [NSLocalizedDescriptionKey: "no answer"]) }
        return try box.answer()
    }
}

final class AnswerBox: @unchecked Sendable {
    private let lock = NSLock()
    private var data: Data?
    private var response: HTTPURLResponse?
    private var error: Error?

    func set(data: Data?, response: HTTPURLResponse?, error: Error?) {
        lock.lock()
        (self.data, self.response, self.error) = (data, response, error)
        lock.unlock()
    }

    func answer() throws -> HTTPAnswer {
        lock.lock()
        defer { lock.unlock() }
        if let error { throw error }
        guard let response else { throw NSError(domain: "HTTP", code: 3) }
        var headers: [String: String] = [:]
        for (name, value) in response.allHeaderFields { headers[String(describing: name).lowercased()] = String(describing: value) }
        return HTTPAnswer(status: response.statusCode, headers: headers, body: data ?? Data())
    }
}

/// A TCP socket connected to 127.0.0.1:`port`, and what `connect` returned (0 when connected).
func connectLoopback(port: Int) -> (socket: Int32, connected: Int32) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let connected = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    return (fd, connected)
}
