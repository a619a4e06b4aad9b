// "HOST:PORT" as given on the command line: IPv4 literals (and "localhost") only.

/// One replica's address. Replicas talk over loopback or networks the operator chose; names are
/// not resolved (no DNS in the data path), so only IPv4 literals and `localhost` are accepted.
public struct PeerAddress: Equatable, Sendable, CustomStringConvertible {
    public let host: String
    public let port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public static func parse(_ text: String) throws -> PeerAddress {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let port = Int(parts[1]), port > 0, port < 65536 else {
            throw AddressError(message: "address '\(text)' is not HOST:PORT with a port in 1...65535")
        }
        var host = String(parts[0])
        if host == "localhost" { host = "127.0.0.1" }
        let octets = host.split(separator: ".", omittingEmptySubsequences: false)
        guard octets.count == 4, octets.allSatisfy({ UInt8($0) != nil }) else {
            throw AddressError(message: "host '\(parts[0])' in '\(text)' is not an IPv4 address (like 127.0.0.1)")
        }
        return PeerAddress(host: host, port: port)
    }

    /// A comma-separated list, as `--addresses A,B,C` takes it.
    public static func parseList(_ text: String) throws -> [PeerAddress] {
        let addresses = try text.split(separator: ",").map { try parse(String($0).trimmingWhitespace()) }
        guard !addresses.isEmpty else { throw AddressError(message: "no addresses given") }
        guard addresses.count <= 7 else { throw AddressError(message: "\(addresses.count) addresses: replica_count_max is 7") }
        return addresses
    }

    public var description: String { "\(host):\(port)" }
}

public struct AddressError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

extension String {
    func trimmingWhitespace() -> String {
        var view = Substring(self)
        while view.first?.isWhitespace == true { view = view.dropFirst() }
        while view.last?.isWhitespace == true { view = view.dropLast() }
        return String(view)
    }
}
