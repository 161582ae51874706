import ArgumentParser
import Foundation
import SeerPredictor

/// `seer-coordinator predictor ...`: fit and cross-validate the performance predictor.
struct PredictorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "predictor",
                                                    abstract: "Fit and evaluate the performance predictor.",
                                                    subcommands: [CV.self, Synthesize.self])

    /// `seer-coordinator predictor cv --samples F.csv`: mean held-out Kendall tau, Spearman rho and RMSE over random
    /// splits, for the Seer predictor and for a ridge baseline.
    struct CV: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "cv",
            abstract: "Cross-validate the performance predictor on a table of measured policies.",
            discussion: """
                Random splits seeded 0..<splits hold out a fraction of the rows; the predictor is fitted on the rest \
                and scored on the held-out rows (Kendall tau-b, Spearman rho, RMSE in accuracy points), and the \
                scores are averaged over the splits. Ridge regression on the standardized raw columns is reported \
                as a baseline.
                """)

        @Option(name: .long, help: "CSV of policies: prune<i>, wbits<i>/abits<i> or bits<i> columns and accuracy.")
        var samples: String

        @Option(name: .long, help: "Number of random splits (seeds 0..<splits).")
        var splits: Int = 30

        @Option(name: .long, help: "Fraction of rows held out in each split, in (0, 1).")
        var holdout: Double = 0.2

        @Option(name: .long, help: "Ensemble members.")
        var members: Int = EnsembleConfiguration.standard.members

        @Option(name: .long, help: "Hidden units of each member's residual MLP (0: ridge-only members).")
        var hidden: Int = EnsembleConfiguration.standard.mlp?.hiddenUnits ?? 0

        @Option(name: .long, help: "AdamW weight decay of the residual MLPs.")
        var weightDecay: Double = EnsembleConfiguration.standard.mlp?.weightDecay ?? 0

        @Option(name: .long, help: "Learning rate of the residual MLPs.")
        var learningRate: Double = EnsembleConfiguration.standard.mlp?.learningRate ?? 0

        @Option(name: .long, help: "With --sampling subsample (or one member): fraction of the training rows each member holds out for early stopping.")
        var validationFraction: Double = EnsembleConfiguration.standard.validationFraction

        @Option(name: .long, help: "Early-stopping patience of the residual MLPs, in epochs.")
        var patience: Int = EnsembleConfiguration.standard.mlp?.patience ?? 25

        @Option(name: .long, help: "Maximum training epochs of the residual MLPs.")
        var maxEpochs: Int = EnsembleConfiguration.standard.mlp?.maxEpochs ?? 300

        @Flag(name: .long, help: "The residual MLPs see the engineered features instead of the base values.")
        var mlpOnFeatures = false

        @Option(name: .long, help: "How members draw their rows: folds, subsample or bootstrap.")
        var sampling: String = EnsembleConfiguration.standard.sampling.rawValue

        @Option(name: .long, help: "Engineered feature groups: comma-separated of squares, interactions, adjacent, aggregates, or 'none' (default: chosen by leave-one-out among the standard candidates).")
        var features: String = "auto"

        @Flag(name: .long, help: "Skip the ridge baseline.")
        var noBaseline = false

        @Flag(name: .long, help: "Run the splits one after another instead of concurrently.")
        var serial = false

        @Flag(name: .long, help: "Print the result as one JSON object on the last line.")
        var json = false

        func validate() throws {
            guard splits >= 1 else { throw ValidationError("--splits must be at least 1 (got \(splits))") }
            guard holdout > 0 && holdout < 1 else {
                throw ValidationError("--holdout must be strictly between 0 and 1 (got \(holdout))")
            }
            guard members >= 1 else { throw ValidationError("--members must be at least 1 (got \(members))") }
            guard validationFraction > 0 && validationFraction < 1 else {
                throw ValidationError("--validation-fraction must be strictly between 0 and 1")
            }
            guard hidden >= 0 else { throw ValidationError("--hidden must not be negative (got \(hidden))") }
            guard weightDecay >= 0 else { throw ValidationError("--weight-decay must not be negative") }
            guard patience >= 1, maxEpochs >= 1 else { throw ValidationError("--patience and --max-epochs must be at least 1") }
            guard learningRate > 0 else { throw ValidationError("--learning-rate must be positive") }
            guard MemberSampling(rawValue: sampling) != nil else {
                throw ValidationError("--sampling must be one of \(MemberSampling.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            _ = try featureOptions()
        }

        func featureOptions() throws -> [FeatureOptions] {
            if features == "auto" { return FeatureOptions.candidates }
            var options = FeatureOptions.baseOnly
            for item in features.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
                switch item {
                case "none", "": break
                case "squares": options.squares = true
                case "interactions": options.layerInteractions = true
                case "adjacent": options.adjacentKept = true
                case "aggregates": options.aggregates = true
                default: throw ValidationError("--features: unknown group '\(item)'")
                }
            }
            return [options]
        }

        func run() throws {
            let table = try PolicyTable(contentsOf: URL(fileURLWithPath: samples))
            guard table.rowCount >= 8 else {
                throw PredictorCommandError("\(samples): need at least 8 rows for cross-validation, found \(table.rowCount)")
            }
            var configuration = EnsembleConfiguration.standard
            configuration.members = members
            configuration.validationFraction = validationFraction
            configuration.sampling = MemberSampling(rawValue: sampling) ?? .folds
            configuration.featureCandidates = try featureOptions()
            if hidden == 0 {
                configuration.mlp = nil
            } else {
                configuration.mlp?.hiddenUnits = hidden
                configuration.mlp?.weightDecay = weightDecay
                configuration.mlp?.learningRate = learningRate
                configuration.mlp?.patience = patience
                configuration.mlp?.maxEpochs = maxEpochs
                configuration.mlpOnFeatures = mlpOnFeatures
            }
            let schema = table.schema
            let frozen = configuration
            let total = splits * (noBaseline ? 1 : 2)
            let progress = Progress(total: total, enabled: true)
            let start = Date()
            let seer = try crossValidate(table, splits: splits, holdout: holdout, concurrent: !serial,
                                         make: { EnsemblePredictor(schema: schema, configuration: frozen) },
                                         progress: { done, _ in progress.update(done) })
            let seerSeconds = Date().timeIntervalSince(start)
            var ridge: CrossValidationResult?
            if !noBaseline {
                ridge = try crossValidate(table, splits: splits, holdout: holdout, concurrent: !serial,
                                          make: { RidgePredictor() },
                                          progress: { done, _ in progress.update(splits + done) })
            }
            progress.finish()
            let seconds = Date().timeIntervalSince(start)

            func f(_ x: Double) -> String { String(format: "%.4f", x) }
            print("samples      \(samples) (\(table.rowCount) rows, \(table.columnCount) policy columns)")
            print("splits       \(splits) x holdout \(holdout) (\(seer.testRows) held-out rows each)")
            print("predictor    \(seer.predictor): kendall_tau \(f(seer.kendallTau)) (sd \(f(seer.kendallTauStd)))  "
                  + "spearman \(f(seer.spearman))  rmse \(f(seer.rmse))  [\(String(format: "%.1f", seerSeconds)) s]")
            print("uncertainty  mean spread \(f(seer.meanStd))  spearman(spread, |error|) \(f(seer.stdErrorSpearman))")
            if let ridge {
                print("baseline     ridge: kendall_tau \(f(ridge.kendallTau)) (sd \(f(ridge.kendallTauStd)))  "
                      + "spearman \(f(ridge.spearman))  rmse \(f(ridge.rmse))")
            }
            if json {
                // JSON has no NaN: metrics that are undefined (e.g. constant predictions) become null.
                func num(_ x: Double) -> Any { x.isFinite ? x : NSNull() }
                var object: [String: Any] = [
                    "kendall_tau": num(seer.kendallTau), "spearman": num(seer.spearman), "rmse": num(seer.rmse),
                    "kendall_tau_std": num(seer.kendallTauStd), "mean_std": num(seer.meanStd),
                    "std_error_spearman": num(seer.stdErrorSpearman),
                    "splits": splits, "holdout": holdout, "rows": table.rowCount, "predictor": seer.predictor,
                    "seconds": (seconds * 100).rounded() / 100,
                ]
                if let ridge {
                    object["ridge_kendall_tau"] = num(ridge.kendallTau)
                    object["ridge_spearman"] = num(ridge.spearman)
                    object["ridge_rmse"] = num(ridge.rmse)
                }
                let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
                print(String(decoding: data, as: UTF8.self))
            }
        }
    }
}

extension PredictorCommand {
    /// `seer-coordinator predictor synthesize`: writes a synthetic policy table (see `SyntheticPolicyModel`), to check
    /// the predictor on tables it was not tuned on.
    struct Synthesize: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "synthesize",
            abstract: "Write a synthetic policy table (wbits/abits/prune columns, nonlinear accuracy model, noise).")

        @Option(name: .long, help: "Number of layers.")
        var layers: Int = 12

        @Option(name: .long, help: "Number of policies (rows).")
        var rows: Int = 400

        @Option(name: .long, help: "Seed of the model's sensitivities.")
        var modelSeed: UInt64 = 1

        @Option(name: .long, help: "Seed of the sampled policies and noise.")
        var seed: UInt64 = 0

        @Option(name: .long, help: "Standard deviation of the accuracy noise, in points.")
        var noise: Double = 0.15

        @Option(name: .shortAndLong, help: "Output CSV path (default: stdout).")
        var output: String?

        func validate() throws {
            guard layers >= 2 else { throw ValidationError("--layers must be at least 2") }
            guard rows >= 1 else { throw ValidationError("--rows must be at least 1") }
            guard noise >= 0 else { throw ValidationError("--noise must not be negative") }
        }

        func run() throws {
            let model = SyntheticPolicyModel(layers: layers, seed: modelSeed, noise: noise)
            let csv = model.table(rows: rows, seed: seed).csvString()
            if let output {
                try csv.write(toFile: output, atomically: true, encoding: .utf8)
            } else {
                print(csv, terminator: "")
            }
        }
    }
}

/// A failure of a predictor command that is not about its flags.
struct PredictorCommandError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A progress indicator on stderr: one rewritten line on a terminal, a line per tenth of the work otherwise.
private final class Progress: @unchecked Sendable {
    private let total: Int
    private let enabled: Bool
    private let terminal = isatty(STDERR_FILENO) != 0
    private var lastTenth = 0
    private let lock = NSLock()

    init(total: Int, enabled: Bool) {
        self.total = total
        self.enabled = enabled
    }

    func update(_ done: Int) {
        guard enabled, total > 0 else { return }
        lock.lock(); defer { lock.unlock() }
        if terminal {
            write("\rcross-validating: \(done)/\(total) fits")
        } else {
            let tenth = done * 10 / total
            if tenth > lastTenth {
                lastTenth = tenth
                write("cross-validating: \(done)/\(total) fits\n")
            }
        }
    }

    func finish() {
        guard enabled, terminal else { return }
        write("\n")
    }

    private func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}
