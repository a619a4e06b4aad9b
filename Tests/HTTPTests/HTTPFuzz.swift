// Malformed HTTP requests, generated from valid ones by seeded mutations, and the client that
// throws them at a live server: the request line, headers, framing and bodies are mutated, requests
// are cut short, and connections are dropped at every byte of a request.
import Foundation
import Randomness

/// One generated case: the bytes to send and how the client leaves the connection.
struct FuzzCase {
    enum Ending {
        /// Read until one whole answer, the server's close, or the deadline.
        case readAnswer
        /// Half-close after sending (the server sees end of stream), then read what comes.
        case halfClose
        /// Close at once after sending (a client gone mid-request).
        case disconnect
    }

    let name: String
    let bytes: [UInt8]
    let ending: Ending
}

/// Deterministic: case `index` of seed `seed` is always the same bytes, so a failure replays alone.
struct HTTPFuzzer {
    let seed: UInt64

    /// Bodies and requests a real client sends: the seeds every mutation starts from.
    static let transferBody = #"{"from_account":"1","to_account":"2","amount":"0.01","currency":"USD","transaction_id":"%ID%"}"#
    static func valid(_ id: Int) -> [String] {
        let transfer = transferBody.replacingOccurrences(of: "%ID%", with: String(id))
        let account = #"{"account_id":"\#(1_000 + id % 5_000)","currency":"USD"}"#
        let chunked = String(transfer.utf8.count, radix: 16) + "\r\n" + transfer + "\r\n0\r\n\r\n"
        return [
            "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n",
            "GET /v1/wallet/accounts/1 HTTP/1.1\r\nHost: t\r\n\r\n",
            "GET /v1/wallet/accounts/2?at_op=3 HTTP/1.1\r\nHost: t\r\n\r\n",
            "GET /v1/wallet/accounts/1/transfers?from_op=1&limit=5 HTTP/1.1\r\nHost: t\r\n\r\n",
            "GET /v1/wallet/transfers/\(id) HTTP/1.1\r\nHost: t\r\n\r\n",
            "HEAD /v1/wallet/accounts/2 HTTP/1.1\r\nHost: t\r\n\r\n",
            "POST /v1/wallet/balance_transfer HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: \(transfer.utf8.count)\r\n\r\n\(transfer)",
            "POST /v1/wallet/balance_transfer HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n\(chunked)",
            "POST /v1/wallet/accounts HTTP/1.1\r\nHost: t\r\nContent-Length: \(account.utf8.count)\r\n\r\n\(account)",
            "GET /healthz HTTP/1.0\r\n\r\n",
            "GET /v1/wallet/accounts/1 HTTP/1.1\r\nHost: t\r\n\r\nPOST /v1/wallet/balance_transfer HTTP/1.1\r\nHost: t\r\nContent-Length: \(transfer.utf8.count)\r\n\r\n\(transfer)",
        ]
    }

    private static let methods = ["GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE", "CONNECT", "PATCH", "get", "G ET", "", "PRI", "QUERY",
                                  String(repeating: "X", count: 300)]
    private static let versions = ["HTTP/1.1", "HTTP/1.0", "HTTP/1.2", "HTTP/2.0", "HTTP/0.9", "http/1.1", "HTTP/1.1 ", "HTTP/11", "", "HTTP/1.1\n"]
    private static let headerLines = [
        "Content-Length: -1", "Content-Length: abc", "Content-Length: 18446744073709551616", "Content-Length: 99999999", "Content-Length: 5",
        "Content-Length: 0", "Content-Length: 1, 2", "Transfer-Encoding: chunked", "Transfer-Encoding: chunked, identity", "Transfer-Encoding: gzip",
        "Transfer-Encoding :", "TE: chunked, identity", "X-Fold: a\r\n  b", "X-Bare: a\nb", "X-Nul: a\u{0}b", "X-CR: a\rb", "Expect: 100-continue",
        "Connection: close", "Connection: keep-alive", "Connection: Upgrade\r\nUpgrade: websocket", "Upgrade: h2c", "Authorization: Bearer x",
        "Authorization: bearer", "Host:", "Host: a\r\nHost: b", ": no-name", "NoColon", "X-Big: " + String(repeating: "b", count: 20_000),
        "Last-Event-ID: 18446744073709551615", "Content-Type: text/plain", "X-\u{7f}: del",
    ]
    private static let bodies = [
        #"{"from_account":"1","to_account":"2","amount":"0.01","amount":"9999.00","currency":"USD","transaction_id":"7"}"#,
        #"{"from_account":"1","to_account":"2","amount":"0.01","currency":"USD","transaction_id":"7",}"#,
        "\u{FEFF}" + #"{"from_account":"1"}"#, #"{"amount":"1e9999"}"#, #"{"amount":99999999999999999999999999999999999999999}"#,
        String(repeating: "[", count: 5_000), #"{"from_account":"0","to_account":"340282366920938463463374607431768211455"}"#,
        #"{"account_id":"1","currency":"USD","flags":["debits_must_not_exceed_credits","debits_must_not_exceed_credits"]}"#,
        #"{"a":"\ud800"}"#, "null", "", "{", #"{"from_account":"1","to_account":"2","amount":"-0.01","currency":"USD","transaction_id":"8"}"#,
        String(repeating: "9", count: 17_000),
    ]

    /// Case `index`: a valid request mutated once or a few times, or a valid request cut at a byte.
    func fuzzCase(_ index: Int) -> FuzzCase {
        var random = SplitMix64(seed: seed ^ (UInt64(index) &* 0x9E37_79B9_7F4A_7C15))
        let valid = HTTPFuzzer.valid(index)
        let base = Array(valid[random.below(valid.count)].utf8)
        let endings: [FuzzCase.Ending] = [.readAnswer, .readAnswer, .halfClose, .disconnect]
        let ending = endings[random.below(endings.count)]
        // One case in eight: the valid request cut after a byte (a disconnect at every byte, across cases).
        if random.below(8) == 0 {
            let cut = index % max(1, base.count)
            return FuzzCase(name: "cut at byte \(cut)", bytes: Array(base.prefix(cut)), ending: .disconnect)
        }
        var bytes = base
        var names: [String] = []
        for _ in 0..<(1 + random.below(3)) {
            let (name, mutated) = mutate(bytes, &random)
            names.append(name)
            bytes = mutated
        }
        return FuzzCase(name: names.joined(separator: "+"), bytes: bytes, ending: ending)
    }

    private func mutate(_ bytes: [UInt8], _ random: inout SplitMix64) -> (String, [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        let headEnd = text.range(of: "\r\n\r\n").map { text.distance(from: text.startIndex, to: $0.lowerBound) } ?? text.count
        switch random.below(10) {
        case 0:  // the method
            guard let space = bytes.firstIndex(of: 0x20) else { return ("method", bytes) }
            let method = HTTPFuzzer.methods[random.below(HTTPFuzzer.methods.count)]
            return ("method \(method.prefix(8))", Array(method.utf8) + bytes[space...])
        case 1:  // the version
            guard let lineEnd = text.range(of: "\r\n"), let versionStart = text[..<lineEnd.lowerBound].range(of: " HTTP", options: .backwards) else { return ("version", bytes) }
            let version = HTTPFuzzer.versions[random.below(HTTPFuzzer.versions.count)]
            return ("version \(version)", Array((String(text[..<versionStart.lowerBound]) + " " + version + String(text[lineEnd.lowerBound...])).utf8))
        case 2:  // the URI: random bytes, long, escaped, repeated parameters
            guard let first = text.firstIndex(of: " "), let second = text[text.index(after: first)...].firstIndex(of: " ") else { return ("uri", bytes) }
            let uris = ["/", "*", "/v1/wallet/accounts/%00", "/v1/wallet/accounts/1?at_op=1&at_op=2", "/v1/wallet/accounts/" + String(repeating: "9", count: 60),
                        "/v1/wallet/accounts/1?at_time=99999999999999999999", "/" + String(repeating: "a", count: 70_000), "/v1/wallet/accounts/1/../2",
                        "/v1/wallet/accounts/1?consistency=linearizable&at_op=1", "/v1/wallet/accounts/1/events?from_op=0", "http://t/healthz",
                        "/v1/wallet/transfers/ffffffff-ffff-ffff-ffff-ffffffffffff", "/v1/wallet/accounts/1/transfers?from_op=18446744073709551615&to_op=1",
                        "/%ff%fe", "/healthz#frag", "/v1/wallet/accounts/1/transfers?limit=0"]
            let uri = uris[random.below(uris.count)]
            return ("uri", Array((String(text[..<first]) + " " + uri + String(text[second...])).utf8))
        case 3:  // a header line added to the head
            let line = HTTPFuzzer.headerLines[random.below(HTTPFuzzer.headerLines.count)]
            guard let lineEnd = text.range(of: "\r\n") else { return ("header", bytes) }
            return ("header \(line.prefix(24))", Array((String(text[..<lineEnd.upperBound]) + line + "\r\n" + String(text[lineEnd.upperBound...])).utf8))
        case 4:  // the body replaced (the framing left as it was: too long, too short, or right)
            let body = HTTPFuzzer.bodies[random.below(HTTPFuzzer.bodies.count)]
            let head = Array(bytes.prefix(min(bytes.count, headEnd + 4)))
            return ("body", head + Array(body.utf8))
        case 5:  // the body replaced with its Content-Length fixed
            let body = Array(HTTPFuzzer.bodies[random.below(HTTPFuzzer.bodies.count)].utf8)
            let request = "POST /v1/wallet/balance_transfer HTTP/1.1\r\nHost: t\r\nContent-Length: \(body.count)\r\n\r\n"
            return ("framed body", Array(request.utf8) + body)
        case 6:  // bad chunking
            let chunks = ["zz\r\n{}\r\n0\r\n\r\n", "5\r\n{}\r\n0\r\n\r\n", "ffffffffffffffffff\r\n{}", "2;ext=\"x\r\n{}\r\n0\r\n\r\n", "0\r\nX-Trailer: 1\r\n\r\n",
                          "2\r\n{}", "-1\r\n", "1\r\n{\r\n1\r\n}\r\n0\r\n\r\n"]
            let request = "POST /v1/wallet/balance_transfer HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks[random.below(chunks.count)]
            return ("chunking", Array(request.utf8))
        case 7:  // byte flips
            var mutated = bytes
            for _ in 0..<(1 + random.below(4)) where !mutated.isEmpty { mutated[random.below(mutated.count)] = UInt8(truncatingIfNeeded: random.next()) }
            return ("flip", mutated)
        case 8:  // insertions and deletions
            var mutated = bytes
            for _ in 0..<(1 + random.below(4)) {
                let at = random.below(mutated.count + 1)
                if random.below(2) == 0 || mutated.isEmpty {
                    let inserts: [[UInt8]] = [[0x0D], [0x0A], [0x00], [0x20], [0x3A], [0x22], [0x5C], [0xFF], Array("\r\n".utf8), Array("\r\n\r\n".utf8)]
                    mutated.insert(contentsOf: inserts[random.below(inserts.count)], at: at)
                } else {
                    mutated.remove(at: min(at, mutated.count - 1))
                }
            }
            return ("insert/delete", mutated)
        default:  // a line end made bare, or the whole request doubled (pipelined)
            if random.below(2) == 0 { return ("bare LF", Array(text.replacingOccurrences(of: "\r\n", with: "\n").utf8)) }
            return ("pipelined", bytes + bytes)
        }
    }
}

/// What the fuzzing client saw.
struct FuzzReport {
    var cases = 0
    var answered = 0
    var statuses: [Int: Int] = [:]
    var problems: [String] = []
}

/// Sends one case on a fresh connection to 127.0.0.1:`port` and checks what comes back: an
/// answer, if any, is HTTP/1.1 with a status, and an error answer is a problem document.
func runFuzzCase(_ fuzzCase: FuzzCase, index: Int, port: Int, report: inout FuzzReport) {
    report.cases += 1
    let (fd, connected) = connectLoopback(port: port)
    defer { close(fd) }
    guard connected == 0 else {
        report.problems.append("case \(index): connect failed (errno \(errno))")
        return
    }
    var sent = 0
    while sent < fuzzCase.bytes.count {
        let count = fuzzCase.bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        if count <= 0 { break }  // refused (and closed) before all was read: allowed
        sent += count
    }
    switch fuzzCase.ending {
    case .disconnect: return
    case .halfClose: shutdown(fd, Int32(SHUT_WR))
    case .readAnswer: break
    }
    var timeout = timeval(tv_sec: 0, tv_usec: 50_000)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    var received = [UInt8]()
    // Bounded: at most 3 s per case (a request the server waits on, such as a slow head, is cut by its own deadlines).
    let deadline = Date(timeIntervalSinceNow: 3)
    while Date() < deadline {
        var chunk = [UInt8](repeating: 0, count: 16_384)
        let count = recv(fd, &chunk, chunk.count, 0)
        if count == 0 || (count < 0 && errno != EAGAIN && errno != EWOULDBLOCK) { break }
        if count > 0 {
            received += chunk[0..<count]
            if RawHTTP.parse(received, bodyless: fuzzCase.bytes.starts(with: Array("HEAD".utf8))) != nil { break }
        }
    }
    guard !received.isEmpty else { return }
    guard received.starts(with: Array("HTTP/1.1 ".utf8)) || received.starts(with: Array("HTTP/1.0 ".utf8)) else {
        report.problems.append("case \(index) (\(fuzzCase.name)): not an HTTP answer: \(String(decoding: received.prefix(80), as: UTF8.self))")
        return
    }
    guard let answer = RawHTTP.parse(received, bodyless: fuzzCase.bytes.starts(with: Array("HEAD".utf8))) else { return }  // cut by our deadline
    report.answered += 1
    report.statuses[answer.status, default: 0] += 1
    if answer.status >= 500 && ![501, 503, 505].contains(answer.status) {
        report.problems.append("case \(index) (\(fuzzCase.name)): \(answer.status) \(answer.body.prefix(200))")
    }
    if answer.status >= 400 && !fuzzCase.bytes.starts(with: Array("HEAD".utf8)) && answer.headers["content-type"] != "application/problem+json" {
        report.problems.append("case \(index) (\(fuzzCase.name)): error \(answer.status) without a problem document: \(answer.body.prefix(120))")
    }
}
