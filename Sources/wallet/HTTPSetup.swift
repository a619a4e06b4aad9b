// What `serve` and `start --http` share: the listen address, the API keys, the metrics registry.
import Cluster
import Foundation
import HTTPShim
import Metrics
import Prometheus

/// HOST:PORT to listen on; port 0 asks the kernel for a free port (tests, scripts), printed once bound.
func parseListenAddress(_ text: String) throws -> PeerAddress {
    text.hasSuffix(":0") ? PeerAddress(host: try PeerAddress.parse(String(text.dropLast(2)) + ":1").host, port: 0) : try PeerAddress.parse(text)
}

/// The keys of `--api-keys FILE`, or open access without a file.
func loadAPIKeys(file: String?, readsRequireKey: Bool) throws -> APIKeys {
    guard let file else {
        if readsRequireKey { throw UserError("--reads-require-key needs --api-keys FILE") }
        return APIKeys.open
    }
    guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { throw UserError("cannot read the API key file \(file)") }
    return try APIKeys.parse(text, readsRequireKey: readsRequireKey)
}

/// One registry for the ledger's metrics and, through swift-metrics, Hummingbird's (once per process).
func bootstrapMetrics() -> LedgerMetrics {
    let registry = PrometheusCollectorRegistry()
    MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
    return LedgerMetrics(registry: registry)
}

/// `--balance-history-entries-max`, checked: 0 (keep none) through 2^32 entries.
func checkedBalanceHistoryEntriesMax(_ value: Int) throws -> Int {
    guard value >= 0 && value <= 1 << 32 else { throw UserError("--balance-history-entries-max must be 0...4294967296") }
    return value
}
