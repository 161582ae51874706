import Foundation
import SeerTransport
import SeerWire

/// What this device is, for READY: cores, memory, OS, architecture, hardware and software versions.
public enum DeviceInfo {
    /// The Seer release this agent belongs to.
    public static let seerVersion = "0.1.0"

    /// The Swift language version this agent was compiled with (major.minor, from compile-time checks).
    public static var swiftVersion: String {
        #if swift(>=6.4)
        return "6.4+"
        #elseif swift(>=6.3)
        return "6.3"
        #elseif swift(>=6.2)
        return "6.2"
        #elseif swift(>=6.1)
        return "6.1"
        #elseif swift(>=6.0)
        return "6.0"
        #else
        return "5.x"
        #endif
    }

    /// The descriptor of the machine this runs on.
    public static func current() -> DeviceDescriptor {
        let zmq = ZMQContext.version
        var system = utsname()
        uname(&system)
        func field<T>(_ value: T) -> String {
            withUnsafeBytes(of: value) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
        }
        let kernel = "\(field(system.sysname)) \(field(system.release))"
        let os = osRelease().map { "\($0) (\(kernel))" } ?? kernel
        let hardware = readFirstLine("/sys/firmware/devicetree/base/model")
            ?? readFirstLine("/sys/class/dmi/id/product_name")
        return DeviceDescriptor(
            cores: max(ProcessInfo.processInfo.activeProcessorCount, 1),
            memoryBytes: Int(clamping: ProcessInfo.processInfo.physicalMemory),
            os: String(os.prefix(256)),
            arch: field(system.machine),
            hardware: hardware.map { String($0.prefix(256)) },
            software: ["seer": seerVersion, "swift": swiftVersion, "libzmq": "\(zmq.major).\(zmq.minor).\(zmq.patch)"])
    }

    private static func osRelease() -> String? {
        guard let text = try? String(contentsOfFile: "/etc/os-release", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("PRETTY_NAME=") {
            let value = line.dropFirst("PRETTY_NAME=".count).trimmingCharacters(in: CharacterSet(charactersIn: "\"'"))
            return value.isEmpty ? nil : value
        }
        return nil
    }

    private static func readFirstLine(_ path: String) -> String? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        // Device-tree strings end in NUL; DMI ones in a newline.
        let line = text.split(whereSeparator: { $0 == "\n" || $0 == "\0" }).first.map(String.init)?
            .trimmingCharacters(in: .whitespaces)
        return (line?.isEmpty ?? true) ? nil : line
    }
}
