// The two ids no account or transfer may have, and how every entry point refuses them.

/// 0 marks an empty slot of the id index and means "none" where an id is optional; 2^128-1 is kept
/// for sentinels (as TigerBeetle keeps it). The ledger refuses both on every write with its own
/// result codes; every entry point that reads an id from outside (CSV, CLI arguments, REST, the
/// binary protocol's look-ups) refuses them before they reach the ledger, in these words.
public enum ReservedIds {
    public static func contains(_ id: UInt128) -> Bool { id == 0 || id == .max }

    /// Why `id` was refused, for an error message: "account id 0 is reserved (...)".
    public static func refusal(_ what: String, _ id: UInt128) -> String {
        "\(what) \(id == 0 ? "0" : "2^128-1") is reserved: no account or transfer has id 0 or 2^128-1"
    }

    /// An id given as decimal text: the id, or why it is refused (not a 128-bit decimal, or reserved).
    public static func parse<S: StringProtocol>(_ text: S, _ what: String) -> Result<UInt128, IdError> {
        switch UInt128.parseDecimal(text) {
        case .success(let id): return contains(id) ? .failure(IdError(message: refusal(what, id))) : .success(id)
        case .failure(.tooLarge): return .failure(IdError(message: "\(what) '\(text.prefix(48))' does not fit in 128 bits"))
        case .failure: return .failure(IdError(message: "\(what) '\(text.prefix(48))' is not a decimal 128-bit integer"))
        }
    }
}

public struct IdError: Error, Equatable, CustomStringConvertible {
    public let message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}
