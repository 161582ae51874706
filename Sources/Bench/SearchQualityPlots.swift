import Foundation
import SeerCoordinator

/// One SVG per (model, budget) of a search-quality report: mean test accuracy over the seeds against the number of
/// fine-tuned measurements a method spent (log scale), a line per method; the sensitivity allocation spends one.
/// What the goals compare (Seer at N against the baselines at 4N) reads off as a horizontal distance.
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
                /// Mean over the seeds that have `metric` from `method`, with how many seeds that is.
                func mean(_ method: String, _ metric: String) -> (value: Double, seeds: Int)? {
                    let xs = entry.seeds.compactMap { latest[Self.key(method, entry.model, $0, budget)]?.values[metric] }
                    return xs.isEmpty ? nil : (xs.reduce(0, +) / Double(xs.count), xs.count)
                }
                var plot = SVGPlot(title: "\(entry.model), BitOPs budget \(percent(budget)): test accuracy, mean over seeds",
                                   xLabel: "fine-tuned measurements (log scale)", yLabel: "test accuracy (%)")
                plot.logX = true
                var seedCounts = Set<Int>()
                for method in methods where options.methods.contains(where: { $0.name == method.name }) {
                    let points = method.counts.compactMap { n -> (x: Double, y: Double)? in
                        guard let m = mean(method.name, method.prefix + "\(n)") else { return nil }
                        seedCounts.insert(m.seeds)
                        return (Double(n), m.value)
                    }
                    if !points.isEmpty {
                        plot.series.append(.init(name: method.name, points: points, color: method.color, line: true))
                    }
                }
                if options.methods.contains(where: { $0.name == "sensitivity" }), let m = mean("sensitivity", "sensitivity_test") {
                    seedCounts.insert(m.seeds)
                    plot.series.append(.init(name: "sensitivity allocation", points: [(1, m.value)], color: "#d62728"))
                }
                guard !plot.series.isEmpty else { continue }
                let seeds = seedCounts.sorted().map(String.init).joined(separator: "/")
                plot.title += " (\(seeds) seeds)"
                let name = "\(entry.model)-\(percent(budget).replacingOccurrences(of: "%", with: "pct")).svg"
                plots.append(Plot(fileName: name, svg: plot.render()))
            }
        }
        return plots
    }
}
