import CSeerKernels

/// The vector ISA the engine's own C kernels (batch normalization's training passes, the activation quantizer's
/// backward) are compiled for.
public enum VectorISA: CaseIterable, CustomStringConvertible, Sendable {
    case baseline, avx2, avx512

    /// The widest this CPU runs, capped where `DNNL_MAX_CPU_ISA` caps oneDNN.
    public static let current = VectorISA(seer_kernel_isa())

    /// The variants this CPU runs, for tests that check each.
    public static var runnable: [VectorISA] { allCases.filter { seer_kernel_isa_runs($0.c) } }

    public var description: String {
        switch self {
        case .baseline: "x86-64 baseline"
        case .avx2: "AVX2"
        case .avx512: "AVX-512"
        }
    }

    var c: seer_vector_isa {
        switch self {
        case .baseline: SEER_ISA_BASELINE
        case .avx2: SEER_ISA_AVX2
        case .avx512: SEER_ISA_AVX512
        }
    }

    init(_ isa: seer_vector_isa) {
        switch isa {
        case SEER_ISA_AVX512: self = .avx512
        case SEER_ISA_AVX2: self = .avx2
        default: self = .baseline
        }
    }
}
