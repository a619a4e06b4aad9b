// The account record: 128 bytes, little-endian, read in place from batch bodies.

/// A wallet (or any account): four balances in integer minor units, on one ledger (currency).
///
/// The balance of a wallet that holds money is `creditsPosted - debitsPosted`; pending amounts are
/// reserved by two-phase transfers. On input the balances and the timestamp must be zero.
public struct Account: Equatable, Sendable {
    public var id: UInt128                 // offset 0
    public var debitsPending: UInt128      // offset 16
    public var debitsPosted: UInt128       // offset 32
    public var creditsPending: UInt128     // offset 48
    public var creditsPosted: UInt128      // offset 64
    public var userData128: UInt128        // offset 80
    public var userData64: UInt64          // offset 96
    public var ledger: UInt32              // offset 104
    public var code: UInt16                // offset 108
    public var flags: AccountFlags         // offset 110
    public var timestamp: UInt64           // offset 112
    public var reserved: UInt64            // offset 120

    public init(
        id: UInt128, ledger: UInt32, code: UInt16 = 0, flags: AccountFlags = [],
        userData128: UInt128 = 0, userData64: UInt64 = 0
    ) {
        self.id = id
        self.debitsPending = 0
        self.debitsPosted = 0
        self.creditsPending = 0
        self.creditsPosted = 0
        self.userData128 = userData128
        self.userData64 = userData64
        self.ledger = ledger
        self.code = code
        self.flags = flags
        self.timestamp = 0
        self.reserved = 0
    }

    /// Whether `other` asks for the same account (balances and timestamp are the ledger's, not compared).
    public func hasSameFields(as other: Account) -> Bool {
        id == other.id && ledger == other.ledger && code == other.code && flags == other.flags
            && userData128 == other.userData128 && userData64 == other.userData64
    }
}

/// Account flags. Unknown bits are rejected (`reserved_flag`).
public struct AccountFlags: OptionSet, Equatable, Sendable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// A wallet that cannot go negative: debits (pending + posted) never exceed credits posted.
    public static let debitsMustNotExceedCredits = AccountFlags(rawValue: 1 << 0)
    /// The reverse, for liability-side accounts: credits never exceed debits posted.
    public static let creditsMustNotExceedDebits = AccountFlags(rawValue: 1 << 1)

    public static let known: AccountFlags = [.debitsMustNotExceedCredits, .creditsMustNotExceedDebits]
}
