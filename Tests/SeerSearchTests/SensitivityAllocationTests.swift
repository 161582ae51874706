import SeerCompression
import SeerModels
import XCTest
@testable import SeerSearch

final class SensitivityAllocationTests: XCTestCase {
    func resnet8() throws -> (encoding: PolicyEncoding, bitops: LayerwiseComplexity, full: Double) {
        let model = try zoo("resnet8")
        let encoding = PolicyEncoding(model: model)
        return (encoding, try LayerwiseComplexity(model: model, encoding: encoding, metric: .bitops), try fullBitOPs(model))
    }

    /// Drops growing by `weight(v)` points per level below the top.
    func table(_ encoding: PolicyEncoding, weight: (Int) -> Double) -> SensitivityTable {
        SensitivityTable(reference: 90, drops: encoding.variables.indices.map { v in
            let top = encoding.variables[v].topLevel
            return (0...top).map { Double(top - $0) * weight(v) }
        })
    }

    func cost(_ levels: [Int], _ encoding: PolicyEncoding, _ bitops: LayerwiseComplexity) -> Double {
        bitops.value(encoding.relaxation(levels: levels))
    }

    func testAllocationIsFeasibleUnderTheBudget() throws {
        let (encoding, bitops, full) = try resnet8()
        // Built through the probes, as the benchmark builds it: a made-up accuracy per probe.
        var accuracies = [SensitivityProbe: Double]()
        for probe in SensitivityTable.probes(for: encoding) {
            guard let v = probe.variable else { accuracies[probe] = 90; continue }
            let below = Double(encoding.variables[v].topLevel - probe.level)
            accuracies[probe] = 90 - below * Double(1 + v % 5) * (encoding.variables[v].kind == .abits ? 2 : 0.5)
        }
        let table = try SensitivityTable(encoding: encoding, accuracies: accuracies)
        for fraction in [0.12, 0.2, 0.3, 0.6] {
            let budget = fraction * full
            let a = try SensitivityAllocation(table: table, encoding: encoding, complexity: bitops, budget: budget)
            XCTAssertLessThanOrEqual(a.cost, budget, "budget \(fraction)")
            XCTAssertEqual(a.cost, cost(a.levels, encoding, bitops), accuracy: 1e-6 * full)
            XCTAssertEqual(try encoding.levels(of: a.policy), a.levels)
            XCTAssertEqual(a.predictedDrop, table.additiveDrop(levels: a.levels), accuracy: 1e-9)
            for (v, level) in a.levels.enumerated() {
                XCTAssertTrue((0...encoding.variables[v].topLevel).contains(level))
            }
            XCTAssertGreaterThan(a.stepsDown, 0)
            // Nothing left to raise: every one-level raise either breaks the budget or does not lower the drop.
            for v in a.levels.indices where a.levels[v] < encoding.variables[v].topLevel {
                var raised = a.levels
                raised[v] += 1
                XCTAssertTrue(cost(raised, encoding, bitops) > budget
                              || table.additiveDrop(levels: raised) >= a.predictedDrop, "variable \(v) could still rise")
            }
            // Deterministic.
            let again = try SensitivityAllocation(table: table, encoding: encoding, complexity: bitops, budget: budget)
            XCTAssertEqual(again.levels, a.levels)
        }
        // A budget above the uncompressed model changes nothing.
        let all = try SensitivityAllocation(table: table, encoding: encoding, complexity: bitops, budget: 2 * full)
        XCTAssertEqual(all.levels, encoding.maximumLevels)
        XCTAssertEqual(all.stepsDown, 0)
    }

    func testPrefersLoweringInsensitiveVariables() throws {
        let (encoding, bitops, _) = try resnet8()
        // The costliest weight bit-width variable is free to lower; every other variable costs 5 points a level.
        let wbits = encoding.variables.indices.filter { encoding.variables[$0].kind == .wbits }
        let saving = { (v: Int) -> Double in
            var lowered = encoding.maximumLevels
            lowered[v] = 0
            return self.cost(encoding.maximumLevels, encoding, bitops) - self.cost(lowered, encoding, bitops)
        }
        let free = wbits.max { saving($0) < saving($1) }!
        let table = table(encoding) { $0 == free ? 0 : 5 }
        var target = encoding.maximumLevels
        target[free] = 0
        let budget = cost(target, encoding, bitops)
        let a = try SensitivityAllocation(table: table, encoding: encoding, complexity: bitops, budget: budget)
        XCTAssertEqual(a.levels, target, "only the insensitive variable should be lowered")
        XCTAssertEqual(a.predictedDrop, 0)

        // Two variables with the same drop per level: the one saving more cost per level goes first.
        let abits = encoding.variables.indices.filter { encoding.variables[$0].kind == .abits }
        let ranked = abits.sorted { saving($0) > saving($1) }
        let (big, small) = (ranked.first!, ranked.last!)
        XCTAssertGreaterThan(saving(big), saving(small))
        let pair = self.table(encoding) { $0 == big || $0 == small ? 1 : 50 }
        var oneStep = encoding.maximumLevels
        oneStep[big] -= 1
        let b = try SensitivityAllocation(table: pair, encoding: encoding, complexity: bitops,
                                          budget: cost(oneStep, encoding, bitops))
        XCTAssertEqual(b.levels, oneStep)
    }

    func testBudgetBelowTheCheapestPolicyThrows() throws {
        let (encoding, bitops, _) = try resnet8()
        let table = table(encoding) { _ in 1 }
        let minimum = cost(encoding.minimumLevels, encoding, bitops)
        XCTAssertThrowsError(try SensitivityAllocation(table: table, encoding: encoding, complexity: bitops,
                                                       budget: 0.5 * minimum)) { error in
            XCTAssertEqual(error as? SearchError, .budgetBelowMinimum(metric: "BitOPs", budget: 0.5 * minimum, minimum: minimum))
            XCTAssertTrue("\(error)".contains("below the smallest reachable BitOPs"), "\(error)")
        }
        // The cheapest policy itself fits exactly.
        let floor = try SensitivityAllocation(table: table, encoding: encoding, complexity: bitops, budget: minimum)
        XCTAssertEqual(floor.levels, encoding.minimumLevels)
        XCTAssertThrowsError(try SensitivityAllocation(table: table, encoding: encoding, complexity: bitops, budget: 0))
        XCTAssertThrowsError(try SensitivityAllocation(table: SensitivityTable(reference: 90, drops: [[0]]), encoding: encoding,
                                                       complexity: bitops, budget: minimum))
    }
}
