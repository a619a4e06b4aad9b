// The transfer record: 128 bytes, little-endian, read in place from batch bodies.

/// A transfer moves `amount` minor units from the debit account to the credit account.
///
/// The book's API maps onto it: `transaction_id` → `id` (the idempotency key), `from_account` →
/// `debitAccountId`, `to_account` → `creditAccountId`, `amount` → `amount` (integer minor units),
/// `currency` → `ledger`. The layout is fixed (docs/FORMAT.md) and checked by tests; the struct is
/// read straight out of mmap'd batch bodies, so it must hold no padding and no references.
public struct Transfer: Equatable, Sendable {
    /// Client-chosen idempotency key; 0 and `UInt128.max` are reserved.
    public var id: UInt128                 // offset 0
    public var debitAccountId: UInt128     // offset 16
    public var creditAccountId: UInt128    // offset 32
    /// Integer minor units (cents); never floating point.
    public var amount: UInt128             // offset 48
    /// For post/void: the id of the pending transfer it resolves; otherwise 0.
    public var pendingId: UInt128          // offset 64
    /// Opaque to the ledger (e.g. a link to the client's own records).
    public var userData128: UInt128        // offset 80
    public var userData64: UInt64          // offset 96
    /// The currency (ledger) code: both accounts and the transfer must share it.
    public var ledger: UInt32              // offset 104
    /// The client's reason code; opaque to the ledger.
    public var code: UInt16                // offset 108
    public var flags: TransferFlags        // offset 110
    /// Zero on input; set by the applier from the batch's leader timestamp (ns) plus the record index.
    public var timestamp: UInt64           // offset 112
    /// Must be zero.
    public var reserved: UInt64            // offset 120

    public init(
        id: UInt128, debitAccountId: UInt128, creditAccountId: UInt128, amount: UInt128,
        ledger: UInt32, code: UInt16 = 0, flags: TransferFlags = [], pendingId: UInt128 = 0,
        userData128: UInt128 = 0, userData64: UInt64 = 0, timestamp: UInt64 = 0
    ) {
        self.id = id
        self.debitAccountId = debitAccountId
        self.creditAccountId = creditAccountId
        self.amount = amount
        self.pendingId = pendingId
        self.userData128 = userData128
        self.userData64 = userData64
        self.ledger = ledger
        self.code = code
        self.flags = flags
        self.timestamp = timestamp
        self.reserved = 0
    }

    /// Whether `other` is the same request: every client-set field equal (the timestamp is the ledger's).
    @inlinable
    public func hasSameFields(as other: Transfer) -> Bool {
        id == other.id && debitAccountId == other.debitAccountId && creditAccountId == other.creditAccountId
            && amount == other.amount && pendingId == other.pendingId && userData128 == other.userData128
            && userData64 == other.userData64 && ledger == other.ledger && code == other.code
            && flags == other.flags
    }
}

/// Transfer flags. Unknown bits are rejected (`reserved_flag`) so they can be given meaning later.
public struct TransferFlags: OptionSet, Equatable, Sendable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// Reserve the amount: debits/credits pending grow; resolved later by a post or a void.
    public static let pending = TransferFlags(rawValue: 1 << 0)
    /// Post (confirm) the pending transfer named by `pendingId`, fully or a smaller amount.
    public static let postPending = TransferFlags(rawValue: 1 << 1)
    /// Void (cancel) the pending transfer named by `pendingId`.
    public static let voidPending = TransferFlags(rawValue: 1 << 2)

    public static let known: TransferFlags = [.pending, .postPending, .voidPending]
}
