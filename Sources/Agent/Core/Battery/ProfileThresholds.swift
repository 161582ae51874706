import Foundation
import SeerWire

/// The configured mapping from a battery reading to a power-profile name.
///
/// Written `performance@60,balanced@25,powersave`: entries in order, each `NAME@PERCENT` used while the
/// capacity is at least PERCENT, the last a bare `NAME` for everything below. On external power (charging,
/// full, not charging) the first profile applies whatever the charge. Thresholds descend strictly, lie in
/// (0, 100], names are unique protocol ids (1-255 bytes, no control characters, and here no `,` or `@`);
/// spaces around entries are ignored.
public struct ProfileThresholds: Equatable, Sendable, CustomStringConvertible {
    /// One profile and the least capacity it needs; nil for the last, which takes the rest.
    public struct Level: Equatable, Sendable {
        /// Profile name as sent in PROFILE.
        public let profile: String
        /// Capacity (percent) from which this profile applies; nil only for the last level.
        public let minimumPercent: Double?

        /// A level; validated when the thresholds are built.
        public init(profile: String, minimumPercent: Double?) {
            self.profile = profile
            self.minimumPercent = minimumPercent
        }
    }

    /// The default when `--profiles` is not given; names as in the protocol's PROFILE example.
    public static let defaultSpec = "performance@60,balanced@25,powersave"

    /// The levels in order, highest threshold first.
    public let levels: [Level]

    /// Parses `performance@60,balanced@25,powersave`; errors name the entry and what is wrong with it.
    public init(_ spec: String) throws(ProfileThresholdsError) {
        let trimmed = spec.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty else {
            throw ProfileThresholdsError("the profile list is empty; expected e.g. \(Self.defaultSpec)")
        }
        var levels: [Level] = []
        let entries = trimmed.split(separator: ",", omittingEmptySubsequences: false)
        for (index, rawEntry) in entries.enumerated() {
            let entry = rawEntry.trimmingCharacters(in: .whitespaces)
            let position = "entry \(index + 1) of \(Self.quoted(spec))"
            guard !entry.isEmpty else { throw ProfileThresholdsError("\(position) is empty") }
            let parts = entry.split(separator: "@", omittingEmptySubsequences: false)
            guard parts.count <= 2 else {
                throw ProfileThresholdsError("\(position), \(Self.quoted(entry)), has more than one '@'")
            }
            let name = parts[0].trimmingCharacters(in: .whitespaces)
            var minimum: Double?
            if parts.count == 2 {
                let text = parts[1].trimmingCharacters(in: .whitespaces)
                guard let value = BatteryTextFormat.plainDecimal(text) else {
                    throw ProfileThresholdsError("\(position): threshold \(Self.quoted(text)) of \(Self.quoted(name)) "
                                                 + "is not a number (NAME@PERCENT, e.g. balanced@25)")
                }
                minimum = value
            }
            levels.append(Level(profile: name, minimumPercent: minimum))
        }
        try self.init(levels: levels)
    }

    /// Validated levels: every one but the last has a threshold, thresholds descend in (0, 100], names are unique ids.
    public init(levels: [Level]) throws(ProfileThresholdsError) {
        guard !levels.isEmpty else { throw ProfileThresholdsError("no profiles given; expected e.g. \(Self.defaultSpec)") }
        var seen: Set<String> = []
        for (index, level) in levels.enumerated() {
            try Self.checkName(level.profile, entry: index + 1)
            guard seen.insert(level.profile).inserted else {
                throw ProfileThresholdsError("profile \(Self.quoted(level.profile)) appears twice")
            }
            let isLast = index == levels.count - 1
            switch (level.minimumPercent, isLast) {
            case (nil, false):
                throw ProfileThresholdsError("profile \(Self.quoted(level.profile)) needs a threshold (NAME@PERCENT): "
                                             + "only the last entry has none")
            case (.some, true):
                throw ProfileThresholdsError("the last profile, \(Self.quoted(level.profile)), must have no threshold: "
                                             + "it takes every capacity below the others")
            case let (.some(minimum), false):
                guard minimum.isFinite, minimum > 0, minimum <= 100 else {
                    throw ProfileThresholdsError("threshold \(BatteryReading.format(minimum)) of \(Self.quoted(level.profile)) "
                                                 + "must be above 0 and at most 100")
                }
                if index > 0, let above = levels[index - 1].minimumPercent, minimum >= above {
                    throw ProfileThresholdsError("thresholds must descend: \(level.profile)@\(BatteryReading.format(minimum)) "
                                                 + "follows \(levels[index - 1].profile)@\(BatteryReading.format(above))")
                }
            case (nil, true):
                break
            }
        }
        self.levels = levels
    }

    /// Profile names in order.
    public var profiles: [String] { levels.map(\.profile) }

    /// The thresholds alone, highest first (one fewer than the levels).
    public var thresholds: [Double] { levels.compactMap(\.minimumPercent) }

    /// The level for a capacity on battery, without hysteresis: the first whose threshold it reaches.
    public func level(forCapacity percent: Double) -> Int {
        thresholds.firstIndex { percent >= $0 } ?? levels.count - 1
    }

    /// The level for a reading, without hysteresis: the first on external power, else by capacity.
    public func level(for reading: BatteryReading) -> Int {
        reading.onExternalPower ? 0 : level(forCapacity: reading.capacityPercent)
    }

    /// The profile for a reading, without hysteresis (what `seer-agent battery` shows).
    public func profile(for reading: BatteryReading) -> String {
        levels[level(for: reading)].profile
    }

    /// The spec string that parses back to these thresholds.
    public var description: String {
        levels.map { level in level.minimumPercent.map { "\(level.profile)@\(BatteryReading.format($0))" } ?? level.profile }
            .joined(separator: ",")
    }

    /// The protocol's id rule (PROFILE's `profile` is an id), plus the two characters the syntax reserves.
    private static func checkName(_ name: String, entry: Int) throws(ProfileThresholdsError) {
        guard !name.isEmpty else { throw ProfileThresholdsError("entry \(entry) has an empty profile name") }
        let bytes = name.utf8.count
        guard bytes <= SeerProtocol.maxIDBytes else {
            throw ProfileThresholdsError("profile name in entry \(entry) is \(bytes) bytes, limit \(SeerProtocol.maxIDBytes)")
        }
        guard !name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw ProfileThresholdsError("profile name \(quoted(name)) in entry \(entry) contains control characters")
        }
        guard !name.contains(","), !name.contains("@") else {
            throw ProfileThresholdsError("profile name \(quoted(name)) in entry \(entry) contains ',' or '@', "
                                         + "which the profile list syntax reserves")
        }
    }

    static func quoted(_ text: String) -> String { BatteryTextFormat.quoted(text) }
}

/// A bad profile list or watcher setting; the message names the entry and the problem.
public struct ProfileThresholdsError: Error, Equatable, Sendable, CustomStringConvertible {
    /// What is wrong, for people.
    public let message: String

    /// An error saying `message`.
    public init(_ message: String) { self.message = message }

    public var description: String { message }
}
