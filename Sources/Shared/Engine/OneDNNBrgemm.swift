import CSeerDNNL
import Foundation

/// Whether oneDNN primitives may take its brgemm-based implementations (brgconv, brdgmm for depthwise), which it
/// prefers on AVX-512. The host default is measured: on AMD Zen 4 they ran 1.5 to 3.5x slower than the JIT kernels
/// of the same ISA that the shim takes instead (`bench/results/issue-14/amd-zen4`), so not on AMD CPUs; on the
/// Intel Xeon oneDNN's own choice (brgemm included) is what `bench/onnx` measured fastest. `SEER_ONEDNN_BRGEMM=on|off`
/// overrides it for a process (the shim reads it when it creates its first primitive).
public enum OneDNNBrgemm {
    public static let environmentKey = "SEER_ONEDNN_BRGEMM"

    /// Whether primitives created from now on may take brgemm implementations.
    public static var isAllowed: Bool { seer_dnnl_brgemm_allowed() }

    /// What `SEER_ONEDNN_BRGEMM` in `environment` asks for: nil when unset.
    public static func configured(in environment: [String: String]) throws -> Bool? {
        guard let value = environment[environmentKey] else { return nil }
        switch value {
        case "on": return true
        case "off": return false
        default: throw OneDNNBrgemmError.invalid(value: value)
        }
    }

    /// Throws the error a bad `SEER_ONEDNN_BRGEMM` makes.
    public static func validateEnvironment() throws { _ = try configured(in: ProcessInfo.processInfo.environment) }

    /// Sets the choice for primitives created from now on (tests run both).
    static func set(_ allowed: Bool) { seer_dnnl_set_brgemm(allowed) }
}

public enum OneDNNBrgemmError: Error, Equatable, CustomStringConvertible {
    case invalid(value: String)

    public var description: String {
        switch self {
        case .invalid(let value): return "\(OneDNNBrgemm.environmentKey)=\(value): expected on or off"
        }
    }
}
