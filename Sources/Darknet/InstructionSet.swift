import DarknetKernels
import Foundation

/// The vector instructions the kernels use: the widest this CPU runs, unless the environment
/// variable `DARKSCOPE_ISA` names a narrower one, to measure or test it on a wider CPU.
public enum InstructionSet: String, CaseIterable, Sendable {
    case portable, avx2, avx512

    public static let environmentVariable = DS_ISA_VARIABLE

    /// The one every kernel of this process uses, chosen once.
    public static let chosen = InstructionSet(ds_chosen_kernel())

    /// Refuses a `DARKSCOPE_ISA` that names no instruction set, or one this CPU cannot run,
    /// which the kernels would otherwise pass over in silence.
    public static func checkEnvironment() throws {
        guard let name = ProcessInfo.processInfo.environment[environmentVariable] else { return }
        let runnable = allCases.filter(\.runsHere).map(\.rawValue).joined(separator: ", ")
        guard let requested = InstructionSet(rawValue: name), requested.runsHere else {
            throw DarknetError.usage("\(environmentVariable)=\(name): this CPU runs \(runnable)")
        }
    }

    public var runsHere: Bool { ds_kernel_runs_here(kernel) != 0 }

    var kernel: ds_kernel {
        switch self {
        case .portable: DS_PORTABLE
        case .avx2: DS_AVX2
        case .avx512: DS_AVX512
        }
    }

    init(_ kernel: ds_kernel) {
        self = Self.allCases.first { $0.kernel == kernel } ?? .portable
    }
}
