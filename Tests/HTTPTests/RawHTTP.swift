// Raw sockets to a live server, for what URLSession cannot send or show: malformed bytes,
// pipelining, half-sent requests, and when the server closes the connection.
import Foundation
import XCTest

/// One keep-alive HTTP/1.1 connection over a plain socket, for what URLSession cannot show:
/// several requests in one write (pipelining), and when the server closes the connection.
final class RawHTTPConnection {
    let socketFD: Int32
    private var received = [UInt8]()

    init(port: Int) throws {
        let (socket, connected) = connectLoopback(port: port)
        socketFD = socket
        guard connected == 0 else { throw NSError(domain: "RawHTTPConnection", code: Int(errno)) }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(socketFD, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(socketFD) }

    func send(_ text: String) {
        let bytes = Array(text.utf8)
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes { Glibc.send(socketFD, $0.baseAddress, $0.count, 0) }
            precondition(count > 0, "send failed")
            sent += count
        }
    }

    /// The next whole response: status and body (nil when the server closed the connection).
    func readResponse() -> (status: Int, body: String)? {
        readAnswer().map { ($0.status, $0.body) }
    }

    /// The next whole response with its headers (nil when the server closed the connection).
    func readAnswer() -> RawAnswer? {
        while true {
            if let end = headerEnd(), let answer = RawHTTP.parse(received) {
                received.removeFirst(end + 4 + (Int(answer.headers["content-length"] ?? "0") ?? 0))
                return answer
            }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let count = recv(socketFD, &chunk, chunk.count, 0)
            if count <= 0 { return nil }
            received += chunk[0..<count]
        }
    }

    private func headerEnd() -> Int? {
        guard received.count >= 4 else { return nil }
        for index in 0...(received.count - 4) where received[index] == 13 && received[index + 1] == 10 && received[index + 2] == 13 && received[index + 3] == 10 {
            return index
        }
        return nil
    }
}


/// A parsed HTTP/1.1 answer read off a raw socket.
struct RawAnswer {
    let status: Int
    let headers: [String: String]
    let body: String
    var json: [String: Any] { ((try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any]) ?? [:] }
}

/// One request's bytes sent on a fresh connection, and what came back until the server closed
/// it (or `waitMs` passed): the first answer, and whether the server closed the connection.
enum RawHTTP {
    static func exchange(port: Int, _ bytes: [UInt8], waitMs: Int = 5_000) -> (answer: RawAnswer?, closedByServer: Bool, raw: [UInt8]) {
        let (fd, connected) = connectLoopback(port: port)
        defer { close(fd) }
        guard connected == 0 else { return (nil, false, []) }
        var timeout = timeval(tv_sec: 0, tv_usec: 100_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if count <= 0 { break }  // the server may refuse (and close) before it has read everything
            sent += count
        }
        var received = [UInt8]()
        var closed = false
        let deadline = Date(timeIntervalSinceNow: Double(waitMs) / 1000)
        while Date() < deadline {
            var chunk = [UInt8](repeating: 0, count: 65536)
            let count = recv(fd, &chunk, chunk.count, 0)
            if count == 0 || (count < 0 && errno == ECONNRESET) { closed = true; break }
            if count > 0 { received += chunk[0..<count] }
        }
        return (parse(received), closed, received)
    }

    /// The first answer in `bytes`, if a whole one is there; `bodyless` for the answer to a HEAD
    /// (its Content-Length is the GET's, and no body follows).
    static func parse(_ bytes: [UInt8], bodyless: Bool = false) -> RawAnswer? {
        guard bytes.count >= 4, let end = (0...(bytes.count - 4)).first(where: { bytes[$0] == 13 && bytes[$0 + 1] == 10 && bytes[$0 + 2] == 13 && bytes[$0 + 3] == 10 }) else { return nil }
        let lines = String(decoding: bytes[0..<end], as: UTF8.self).components(separatedBy: "\r\n")
        let statusParts = lines[0].split(separator: " ")
        guard statusParts.count >= 2, let status = Int(statusParts[1]) else { return nil }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2 { headers[parts[0].lowercased()] = parts[1].trimmingCharacters(in: .whitespaces) }
        }
        let length = bodyless ? 0 : Int(headers["content-length"] ?? "0") ?? 0
        guard bytes.count >= end + 4 + length else { return nil }
        return RawAnswer(status: status, headers: headers, body: String(decoding: bytes[(end + 4)..<(end + 4 + length)], as: UTF8.self))
    }
}
