// `wallet http-baseline`: bare SwiftNIO HTTP/1.1, the ceiling `make bench-http` compares against.
import ArgumentParser
import Foundation
import HTTPShim

struct HTTPBaselineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "http-baseline",
        abstract: "Serve a fixed 200 from bare SwiftNIO HTTP/1.1 (no router, no ledger): the HTTP ceiling for benchmarks.")

    @Option(help: "Listen on HOST:PORT (port 0: any free port, printed when listening).") var http: String = "127.0.0.1:8099"

    func run() throws {
        try reportingErrors {
            let address = try parseListenAddress(http)
            try BaselineHTTPServer.run(host: address.host, port: address.port) { port in
                print("http-baseline on http://\(address.host):\(port)")
                fflush(stdout)
            }
        }
    }
}
