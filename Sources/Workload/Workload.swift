// Synthetic ledgers: a funding account, wallets that cannot go negative, and random transfers.
import LedgerCore

public enum Distribution: String, CaseIterable, Sendable {
    case uniform
    case zipf
}

/// What to generate. Deterministic: the same spec gives the same records, byte for byte.
public struct WorkloadSpec: Sendable {
    public var accounts: Int
    public var transfers: Int
    public var distribution: Distribution = .uniform
    /// Fraction of transfers that resend an earlier transfer unchanged (answered `exists`).
    public var duplicateFraction: Double = 0
    /// Fraction of transfers that are invalid in one of several ways.
    public var invalidFraction: Double = 0
    public var seed: UInt64 = 0
    /// Currency of every account and transfer.
    public var ledger: UInt32 = CurrencyCode.parse("USD")!
    /// What the funding account gives each wallet first, in minor units.
    public var fundingAmount: UInt128 = 1_000_000_00
    /// Largest random transfer amount, in minor units.
    public var transferAmountMax: Int = 10_000

    public init(accounts: Int, transfers: Int) {
        self.accounts = accounts
        self.transfers = transfers
    }

    /// Account 1 funds the wallets; it has no balance limit (it is the money's source).
    public static let fundingAccountId: UInt128 = 1
}

public struct Workload {
    public let spec: WorkloadSpec

    public init(spec: WorkloadSpec) {
        precondition(spec.accounts >= 2, "a workload needs the funding account and at least one wallet")
        precondition(spec.duplicateFraction >= 0 && spec.invalidFraction >= 0 && spec.duplicateFraction + spec.invalidFraction <= 1)
        self.spec = spec
    }

    public func accounts() -> [Account] {
        (1...spec.accounts).map { index in
            let flags: AccountFlags = index == 1 ? [] : [.debitsMustNotExceedCredits]
            return Account(id: UInt128(index), ledger: spec.ledger, flags: flags)
        }
    }

    /// Transfer ids: the seed in the high word, a counter in the low one, so runs with other seeds
    /// never collide.
    public func transferId(_ index: Int) -> UInt128 { UInt128(spec.seed) << 64 | UInt128(index + 1) }

    /// All transfers: first one funding transfer per wallet, then random ones between wallets.
    public func transfers() -> [Transfer] {
        var random = SplitMix64(seed: spec.seed ^ 0x7472_616e_7366_6572)
        let wallets = spec.accounts - 1
        let zipf = spec.distribution == .zipf ? ZipfSampler(count: wallets) : nil
        func wallet() -> UInt128 {
            let rank = zipf?.sample(&random) ?? random.below(wallets)
            // Scatter the ranks so hot wallets are not neighbours in the id space.
            let scattered = (rank &* 2_654_435_761) % wallets
            return UInt128(2 + scattered)
        }
        var transfers: [Transfer] = []
        transfers.reserveCapacity(spec.transfers)
        for index in 0..<spec.transfers {
            let id = transferId(index)
            if index < wallets {
                transfers.append(Transfer(id: id, debitAccountId: WorkloadSpec.fundingAccountId, creditAccountId: UInt128(index + 2),
                                          amount: spec.fundingAmount, ledger: spec.ledger))
                continue
            }
            let roll = random.unit()
            if roll < spec.duplicateFraction && !transfers.isEmpty {
                transfers.append(transfers[random.below(transfers.count)])
                continue
            }
            if roll < spec.duplicateFraction + spec.invalidFraction {
                let debit = wallet()
                let variant = random.below(5)
                let unknown = UInt128(spec.accounts + 1 + random.below(1000))
                transfers.append(invalidTransfer(id: id, variant: variant, debit: debit, unknown: unknown))
                continue
            }
            var debit = wallet()
            var credit = wallet()
            while credit == debit { credit = wallet() }
            if random.below(2) == 0 { swap(&debit, &credit) }
            let amount = UInt128(1 + random.below(spec.transferAmountMax))
            transfers.append(Transfer(id: id, debitAccountId: debit, creditAccountId: credit, amount: amount, ledger: spec.ledger))
        }
        return transfers
    }

    private func invalidTransfer(id: UInt128, variant: Int, debit: UInt128, unknown: UInt128) -> Transfer {
        switch variant {
        case 0: return Transfer(id: id, debitAccountId: debit, creditAccountId: debit, amount: 1, ledger: spec.ledger)
        case 1: return Transfer(id: id, debitAccountId: debit, creditAccountId: unknown, amount: 1, ledger: spec.ledger)
        case 2: return Transfer(id: id, debitAccountId: debit, creditAccountId: WorkloadSpec.fundingAccountId, amount: 0, ledger: spec.ledger)
        case 3: return Transfer(id: id, debitAccountId: debit, creditAccountId: WorkloadSpec.fundingAccountId, amount: 1, ledger: spec.ledger &+ 1)
        default:
            // More than the wallet can ever hold: insufficient funds.
            return Transfer(id: id, debitAccountId: debit, creditAccountId: WorkloadSpec.fundingAccountId,
                            amount: spec.fundingAmount * UInt128(spec.accounts) + 1, ledger: spec.ledger)
        }
    }
}
