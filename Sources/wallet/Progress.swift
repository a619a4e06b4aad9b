// Progress for long work: a bar redrawn in place on a terminal, plain lines otherwise.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

final class Progress {
    let label: String
    let total: Int
    let unit: String
    private let isTerminal = isatty(STDERR_FILENO) != 0
    private let startNs = DispatchTime.now().uptimeNanoseconds
    private var lastDrawNs: UInt64 = 0
    private var lastPlainPercent = -1
    private let quiet: Bool

    init(_ label: String, total: Int, unit: String, quiet: Bool = false) {
        self.label = label
        self.total = max(total, 1)
        self.unit = unit
        self.quiet = quiet
    }

    func update(_ done: Int) {
        guard !quiet else { return }
        let nowNs = DispatchTime.now().uptimeNanoseconds
        let percent = min(100, done * 100 / total)
        if isTerminal {
            guard nowNs - lastDrawNs > 100_000_000 || done >= total else { return }
            lastDrawNs = nowNs
            let width = 30
            let filled = width * percent / 100
            let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
            let seconds = Double(nowNs - startNs) / 1e9
            let rate = seconds > 0 ? Double(done) / seconds : 0
            write("\r\(label) [\(bar)] \(percent)% \(formatCount(done))/\(formatCount(total)) \(unit) \(formatCount(Int(rate)))/s ")
        } else if percent / 10 != lastPlainPercent / 10 {
            lastPlainPercent = percent
            write("\(label): \(percent)% (\(formatCount(done)) of \(formatCount(total)) \(unit))\n")
        }
    }

    func finish() {
        guard !quiet else { return }
        if isTerminal { write("\n") }
    }

    private func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}

/// 1234567 → "1,234,567".
func formatCount(_ value: Int) -> String {
    let digits = String(value.magnitude)
    var out = ""
    for (index, character) in digits.enumerated() {
        if index > 0 && (digits.count - index) % 3 == 0 { out.append(",") }
        out.append(character)
    }
    return value < 0 ? "-" + out : out
}

/// (1, "batch") → "1 batch", (2, "batch") → "2 batches"; `plural` when adding "s" or "es" is wrong.
func counted(_ value: Int, _ singular: String, plural: String? = nil) -> String {
    if value == 1 { return "1 \(singular)" }
    let suffix = ["s", "x", "z", "ch", "sh"].contains(where: singular.hasSuffix) ? "es" : "s"
    return "\(formatCount(value)) \(plural ?? singular + suffix)"
}

func formatRate(_ count: Int, elapsedNs: UInt64) -> Int {
    elapsedNs == 0 ? 0 : Int(Double(count) * 1e9 / Double(elapsedNs))
}
