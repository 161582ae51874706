import CSeerDNNL
import Foundation

/// Where the float inference program runs 3x3, stride 1 convolutions by Winograd's F(2x2, 3x3) (the engine's own
/// kernel, `winograd_conv.c`) instead of oneDNN's direct kernels. `auto`, the default, is where it measured faster:
/// on oneDNN's AVX2 layout (nChw8c), 1.2 to 1.6x per resnet20 layer against oneDNN 2.6's jit:avx2 on the AMD EPYC; on
/// AVX-512 (nChw16c) oneDNN's own kernels stay. `on` takes it on every blocked layout, so tests run it on any host;
/// `SEER_WINOGRAD=auto|on|off` sets it for a process.
public enum WinogradConvolution: String, CaseIterable {
    case auto, on, off

    public static let environmentKey = "SEER_WINOGRAD"

    /// The setting programs built from now on follow.
    public static var current: WinogradConvolution {
        switch seer_dnnl_winograd() {
        case SEER_WINOGRAD_ON: return .on
        case SEER_WINOGRAD_OFF: return .off
        default: return .auto
        }
    }

    /// What `SEER_WINOGRAD` in `environment` asks for: nil when unset.
    public static func configured(in environment: [String: String]) throws -> WinogradConvolution? {
        guard let value = environment[environmentKey] else { return nil }
        guard let setting = WinogradConvolution(rawValue: value) else {
            throw WinogradConvolutionError.invalid(value: value)
        }
        return setting
    }

    /// Throws the error a bad `SEER_WINOGRAD` makes.
    public static func validateEnvironment() throws { _ = try configured(in: ProcessInfo.processInfo.environment) }

    /// Sets the choice for programs built from now on (tests run every setting).
    static func set(_ setting: WinogradConvolution) {
        switch setting {
        case .auto: seer_dnnl_set_winograd(SEER_WINOGRAD_AUTO)
        case .on: seer_dnnl_set_winograd(SEER_WINOGRAD_ON)
        case .off: seer_dnnl_set_winograd(SEER_WINOGRAD_OFF)
        }
    }
}

public enum WinogradConvolutionError: Error, Equatable, CustomStringConvertible {
    case invalid(value: String)

    public var description: String {
        switch self {
        case .invalid(let value): return "\(WinogradConvolution.environmentKey)=\(value): expected auto, on or off"
        }
    }
}
