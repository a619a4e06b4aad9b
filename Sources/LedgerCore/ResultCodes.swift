// Business outcomes of applying a record: fixed numbers, part of the client protocol, never reused.

/// The outcome of one transfer. A rejection is a result, not an error: the batch still applies.
///
/// Three groups, and what each does to the transfer id:
/// - `ok`, and the `exists*`/`idAlreadyFailed` answers to a retry of an id already seen;
/// - invalid fields (`idMustNotBeZero` ... `pendingIdMustBeDifferent`): checked before any state is
///   read; the id stays free, so the client can correct the transfer and send it again;
/// - rejections on account state (`debitAccountNotFound` and later): the id is spent, recorded with
///   this result; a retry gets `idAlreadyFailed` and is never evaluated again, so it cannot succeed later
///   by surprise.
public enum TransferResult: UInt8, CaseIterable, Sendable {
    case ok = 0
    /// Same id and same fields as a transfer that succeeded: nothing happens again. Treat as success.
    case exists = 1
    case existsWithDifferentFields = 2
    /// The id belongs to a transfer that failed on account state; it is never re-evaluated.
    case idAlreadyFailed = 3

    case idMustNotBeZero = 4
    case idMustNotBeIntMax = 5
    case reservedField = 6
    case reservedFlag = 7
    case flagsAreMutuallyExclusive = 8
    case timestampMustBeZero = 9
    case debitAccountIdMustNotBeZeroOrIntMax = 10
    case creditAccountIdMustNotBeZeroOrIntMax = 11
    case accountsMustBeDifferent = 12
    case amountMustNotBeZero = 13
    case ledgerMustNotBeZero = 14
    case pendingIdMustBeZero = 15
    case pendingIdMustNotBeZero = 16
    case pendingIdMustBeDifferent = 17

    case debitAccountNotFound = 32
    case creditAccountNotFound = 33
    case accountsMustHaveTheSameLedger = 34
    case transferMustHaveTheSameLedgerAsAccounts = 35
    /// Insufficient funds: the debit account may not go below zero.
    case exceedsCredits = 36
    case exceedsDebits = 37
    case overflowsDebitsPending = 38
    case overflowsCreditsPending = 39
    case overflowsDebitsPosted = 40
    case overflowsCreditsPosted = 41
    case overflowsDebits = 42
    case overflowsCredits = 43
    case pendingTransferNotFound = 44
    case pendingTransferNotPending = 45
    case pendingTransferAlreadyPosted = 46
    case pendingTransferAlreadyVoided = 47
    case pendingTransferHasDifferentDebitAccount = 48
    case pendingTransferHasDifferentCreditAccount = 49
    case pendingTransferHasDifferentLedger = 50
    case exceedsPendingTransferAmount = 51
    case pendingTransferHasDifferentAmount = 52

    /// Whether this outcome spends the id (recorded, answered `idAlreadyFailed` on retry).
    @inlinable
    public var spendsId: Bool { rawValue >= TransferResult.debitAccountNotFound.rawValue }

    /// Whether a client should count this as applied (first time or retried).
    public var isSuccess: Bool { self == .ok || self == .exists }

    /// The snake_case name used in CLI output, JSON and docs.
    public var name: String { snakeCase(String(describing: self)) }
}

/// The outcome of creating one account.
public enum AccountResult: UInt8, CaseIterable, Sendable {
    case ok = 0
    case exists = 1
    case existsWithDifferentFields = 2
    case idMustNotBeZero = 4
    case idMustNotBeIntMax = 5
    case reservedField = 6
    case reservedFlag = 7
    case flagsAreMutuallyExclusive = 8
    case timestampMustBeZero = 9
    case ledgerMustNotBeZero = 14
    case balancesMustBeZero = 20

    public var isSuccess: Bool { self == .ok || self == .exists }
    public var name: String { snakeCase(String(describing: self)) }
}

func snakeCase(_ camel: String) -> String {
    var out = ""
    for character in camel {
        if character.isUppercase {
            out.append("_")
            out.append(contentsOf: character.lowercased())
        } else {
            out.append(character)
        }
    }
    return out
}
