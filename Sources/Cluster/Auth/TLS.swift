// TLS for the replica port (swift-nio-ssl): encryption in transit, the server's certificate checked
// against the cluster's CA. Authentication stays the handshake's (`HandshakeTranscript`).
import Foundation
import NIOCore
import NIOSSL

/// A replica's TLS files (`--tls-cert`, `--tls-key`, `--tls-ca`): its certificate chain and key, and
/// the CA its peers' certificates must chain to. Off by default (loopback tests and benches run
/// without); with it, every connection, accepted or opened, is TLS.
///
/// Certificates are checked against the CA, not against a host name: replicas are addressed by
/// IP, and who is at the other end is proved by the cluster key in the handshake. TLS adds
/// confidentiality, and a second check that the other end is one of this cluster's machines.
public struct TLSFiles: Sendable, Equatable {
    public let certificatePath: String
    public let privateKeyPath: String
    public let caPath: String

    public init(certificatePath: String, privateKeyPath: String, caPath: String) {
        self.certificatePath = certificatePath
        self.privateKeyPath = privateKeyPath
        self.caPath = caPath
    }

    /// For accepted connections.
    func serverContext() throws -> NIOSSLContext {
        do {
            let chain = try NIOSSLCertificate.fromPEMFile(certificatePath)
            let key = try NIOSSLPrivateKey(file: privateKeyPath, format: .pem)
            var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
            configuration.minimumTLSVersion = .tlsv12
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw TLSSetupError("TLS: cannot use the certificate \(certificatePath) and key \(privateKeyPath): \(error)")
        }
    }

    /// For a replica's connections to its peers (they present their own certificate too).
    func peerClientContext() throws -> NIOSSLContext {
        try TLSFiles.clientContext(caPath: caPath)
    }

    /// For clients (`--tls-ca FILE`): the replica's certificate must chain to this CA.
    static func clientContext(caPath: String) throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        configuration.certificateVerification = .noHostnameVerification
        do {
            configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caPath))
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw TLSSetupError("TLS: cannot use the CA file \(caPath): \(error)")
        }
    }
}

/// A client's TLS (`--tls-ca FILE`): the replicas' certificates must chain to this CA.
public struct ClientTLS: @unchecked Sendable {
    let context: NIOSSLContext

    public init(caPath: String) throws { context = try TLSFiles.clientContext(caPath: caPath) }
    init(context: NIOSSLContext) { self.context = context }
}

public struct TLSSetupError: Error, CustomStringConvertible {
    public let message: String
    init(_ message: String) { self.message = message }
    public var description: String { message }
}
