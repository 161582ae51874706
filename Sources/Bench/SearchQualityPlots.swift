import Foundation
import SeerCoordinator

/// One SVG per (model, budget) of a search-quality report: mean test accuracy over the seeds against the number of
/// fine-tuned measurements a method spent (log scale), a line per method; the sensitivity allocation spends one.
/// What the goals compare (Seer at N against the baselines at 4N) reads off as a horizontal distance. Every point is
/// a mean over the same seeds (those with every plotted figure), so that no line bends because its seeds changed.
extension Report {
    struct Plot {
        /// File name: MODEL-BUDGETpct.svg.
        let fileName: String
        let svg: String
    }

    func plots() -> [Plot] {
        let methods: [(name: String, prefix: String, counts: [Int], color: String)] = [
            ("seer", "seer_test_", options.seerCounts, "#1f77b4"),
            ("random", "random_test_", options.baselineCounts, "#ff7f0e"),
            ("evolution", "evolution_test_", options.baselineCounts, "#2ca02c"),
        ]
        var plots = [Plot]()
        for entry in plan {
            for budget in entry.budgets {
                func value(_ method: String, _ metric: String, _ seed: UInt64) -> Double? {
                    latest[Self.key(method, entry.model, seed, budget)]?.values[metric]
                }
                var figures = [(name: String, method: String, metric: String, x: Double, color: String, line: Bool)]()
                for method in methods where options.methods.contains(where: { $0.name == method.name }) {
                    for n in method.counts {
                        figures.append((method.name, method.name, method.prefix + "\(n)", Double(n), method.color, true))
                    }
                }
                if options.methods.contains(where: { $0.name == "sensitivity" }) {
                    figures.append(("sensitivity allocation", "sensitivity", "sensitivity_test", 1, "#d62728", false))
                }
                figures = figures.filter { f in entry.seeds.contains { value(f.method, f.metric, $0) != nil } }
                let seeds = entry.seeds.filter { seed in figures.allSatisfy { value($0.method, $0.metric, seed) != nil } }
                guard !figures.isEmpty, !seeds.isEmpty else { continue }
                var plot = SVGPlot(title: "\(entry.model), BitOPs budget \(percent(budget)): test accuracy, mean over seeds "
                                   + seeds.map(String.init).joined(separator: ", "),
                                   xLabel: "fine-tuned measurements (log scale)", yLabel: "test accuracy (%)")
                plot.logX = true
                for f in figures {
                    let mean = seeds.map { value(f.method, f.metric, $0)! }.reduce(0, +) / Double(seeds.count)
                    if let i = plot.series.firstIndex(where: { $0.name == f.name }) {
                        plot.series[i].points.append((f.x, mean))
                    } else {
                        plot.series.append(.init(name: f.name, points: [(f.x, mean)], color: f.color, line: f.line))
                    }
                }
                let name = "\(entry.model)-\(percent(budget).replacingOccurrences(of: "%", with: "pct")).svg"
                plots.append(Plot(fileName: name, svg: plot.render()))
            }
        }
        return plots
    }
}
