// Zipf-distributed ranks for skewed workloads, from a seeded generator.
@_exported import Randomness

/// Draws ranks 0..<count with probability proportional to 1 / (rank + 1)^exponent.
public struct ZipfSampler: Sendable {
    private let cumulative: [Double]

    public init(count: Int, exponent: Double = 1.0) {
        precondition(count > 0)
        var sums = [Double](repeating: 0, count: count)
        var total = 0.0
        for rank in 0..<count {
            total += 1.0 / pow(Double(rank + 1), exponent)
            sums[rank] = total
        }
        cumulative = sums.map { $0 / total }
    }

    public func sample(_ random: inout SplitMix64) -> Int {
        let target = random.unit()
        var low = 0
        var high = cumulative.count - 1
        while low < high {
            let middle = (low + high) / 2
            if cumulative[middle] < target { low = middle + 1 } else { high = middle }
        }
        return low
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
