import Foundation

/// Per-channel input normalization, (x - mean[c]) / std[c], where x is a byte pixel / 255 or a float pixel as stored.
///
/// One value applies to every channel; otherwise there is one per channel.
public struct Normalization: Codable, Sendable, Equatable, CustomStringConvertible {
    public var mean: [Float]
    public var std: [Float]

    public init(mean: [Float], std: [Float]) {
        self.mean = mean
        self.std = std
    }

    /// x unchanged: what npz and image-folder data get unless the spec or command line gives mean and std.
    public static let identity = Normalization(mean: [0], std: [1])

    /// Mean and std of channel `c` (the single values when one is given for all).
    public func channel(_ c: Int) -> (mean: Float, std: Float) {
        (mean.count == 1 ? mean[0] : mean[c], std.count == 1 ? std[0] : std[c])
    }

    /// Throws unless there are 1 or `channels` finite means and positive finite stds; `field` prefixes the message.
    public func validate(channels: Int?, field: String) throws {
        for (name, values) in [("mean", mean), ("std", std)] {
            guard !values.isEmpty else { throw DataError.invalidSpec(field: "\(field).\(name)", reason: "give at least one value") }
            if let channels, values.count != 1 && values.count != channels {
                throw DataError.invalidSpec(field: "\(field).\(name)",
                                            reason: "\(values.count) values for \(channels)-channel images (give 1 or \(channels))")
            }
            if let bad = values.first(where: { !$0.isFinite }) {
                throw DataError.invalidSpec(field: "\(field).\(name)", reason: "\(bad) is not a finite number")
            }
        }
        if let bad = std.first(where: { $0 <= 0 }) {
            throw DataError.invalidSpec(field: "\(field).std", reason: "\(bad) is not positive")
        }
    }

    public var description: String {
        func list(_ v: [Float]) -> String { v.count == 1 ? "\(v[0])" : "[" + v.map { "\($0)" }.joined(separator: ", ") + "]" }
        return "mean \(list(mean)), std \(list(std))"
    }

    enum CodingKeys: String, CodingKey { case mean, std }

    public init(from decoder: Decoder) throws {
        if let unknown = try decoder.container(keyedBy: AnyKey.self).allKeys.first(where: { CodingKeys(rawValue: $0.stringValue) == nil }) {
            throw DecodingError.dataCorruptedError(forKey: unknown, in: try decoder.container(keyedBy: AnyKey.self),
                                                   debugDescription: "unknown field '\(unknown.stringValue)' (known: mean, std)")
        }
        let c = try decoder.container(keyedBy: CodingKeys.self)
        mean = try Self.values(c, .mean)
        std = try Self.values(c, .std)
    }

    /// A number or a list of numbers.
    static func values(_ c: KeyedDecodingContainer<CodingKeys>, _ key: CodingKeys) throws -> [Float] {
        if let one = try? c.decode(Float.self, forKey: key) { return [one] }
        return try c.decode([Float].self, forKey: key)
    }
}

/// The kinds of data source.
public enum DataFormat: String, Codable, Sendable, CaseIterable {
    /// A directory of the four gzipped IDX files of the MNIST family (Fashion-MNIST, MNIST).
    case idx
    /// A NumPy `.npz` archive in the Keras convention: `x_train`, `y_train`, `x_test`, `y_test`.
    case npz
    /// torchvision's ImageFolder convention: `ROOT/train/CLASS/*.png|jpg` and `ROOT/val/CLASS/...`.
    case imagefolder
}

/// Where an npz's channel axis is: after the spatial axes (Keras, TensorFlow) or before them (PyTorch).
public enum ChannelLayout: String, Codable, Sendable, CaseIterable {
    case nhwc, nchw
}

/// Which data to load and how: the `data:` block of configs and the `--data` options of the commands.
///
/// Errors name the field at fault (`data.mean`, `data.layout`, ...).
public struct DataSpec: Codable, Sendable, Equatable {
    /// nil: inferred from `path` (`.npz` file, a directory with IDX files, a directory with `train/`).
    public var format: DataFormat?
    public var path: String
    /// Per-channel mean and std; nil: Fashion-MNIST's for IDX, none (identity) for npz and image folders.
    public var mean: [Float]?
    public var std: [Float]?
    /// npz only: where the channel axis is in 4-D image arrays; nil: inferred (an error when ambiguous).
    public var layout: ChannelLayout?
    /// npz only: the class count; nil: the largest label + 1.
    public var classes: Int?
    /// Training images held out as the validation split; nil: 5,000 for IDX, 10% of the training images otherwise.
    public var validation: Int?
    /// The SHA-256 the data must have (`fingerprint()`); a campaign pins it when it starts, so agents refuse other data.
    public var sha256: String?
    /// Training augmentation's random crop: pixels of black border on every side (`Augmentation.padding`); nil: the
    /// standard 2. Less than the image's height and width (a larger shift could move an image out of its crop).
    public var cropPadding: Int?

    public init(format: DataFormat? = nil, path: String, mean: [Float]? = nil, std: [Float]? = nil,
                layout: ChannelLayout? = nil, classes: Int? = nil, validation: Int? = nil, sha256: String? = nil,
                cropPadding: Int? = nil) {
        self.format = format
        self.path = path
        self.mean = mean
        self.std = std
        self.layout = layout
        self.classes = classes
        self.validation = validation
        self.sha256 = sha256
        self.cropPadding = cropPadding
    }

    /// Fashion-MNIST where the Debian package installs it.
    public static let fashionMNIST = DataSpec(format: .idx, path: FashionMNIST.defaultDirectory)

    enum CodingKeys: String, CodingKey, CaseIterable {
        case format, path, mean, std, layout, classes, validation, sha256
        case cropPadding = "crop_padding"
    }

    /// Accepts a bare path (`data: DIR`, as configs always could) or the object form; unknown keys are errors.
    ///
    /// Errors are `DecodingError`s at the field's coding path (`data.mean` in a campaign config), so that config
    /// readers report them as they report every other field.
    public init(from decoder: Decoder) throws {
        if let single = try? decoder.singleValueContainer(), let path = try? single.decode(String.self) {
            self.init(path: path)
            return
        }
        let any = try decoder.container(keyedBy: AnyKey.self)
        if let unknown = any.allKeys.first(where: { CodingKeys(rawValue: $0.stringValue) == nil }) {
            throw DecodingError.dataCorruptedError(forKey: unknown, in: any, debugDescription: "unknown field (known: "
                                                   + CodingKeys.allCases.map(\.rawValue).joined(separator: ", ") + ")")
        }
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func field<T: Decodable>(_ key: CodingKeys, _ type: T.Type) throws -> T? {
            do { return try c.decodeIfPresent(T.self, forKey: key) } catch {
                throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: Self.expectation(key))
            }
        }
        func floats(_ key: CodingKeys) throws -> [Float]? {
            guard c.contains(key) else { return nil }
            if let one = try? c.decode(Float.self, forKey: key) { return [one] }
            return try field(key, [Float].self)
        }
        guard c.contains(.path) else {
            throw DecodingError.keyNotFound(CodingKeys.path, .init(codingPath: decoder.codingPath, debugDescription: "required"))
        }
        self.init(format: try field(.format, DataFormat.self), path: try field(.path, String.self) ?? "",
                  mean: try floats(.mean), std: try floats(.std), layout: try field(.layout, ChannelLayout.self),
                  classes: try field(.classes, Int.self), validation: try field(.validation, Int.self),
                  sha256: try field(.sha256, String.self), cropPadding: try field(.cropPadding, Int.self))
    }

    private static func expectation(_ key: CodingKeys) -> String {
        switch key {
        case .format: return "expected one of " + DataFormat.allCases.map(\.rawValue).joined(separator: ", ")
        case .layout: return "expected one of " + ChannelLayout.allCases.map(\.rawValue).joined(separator: ", ")
        case .mean, .std: return "expected a number or a list of numbers (one per channel)"
        case .classes, .validation, .cropPadding: return "expected an integer"
        case .path, .sha256: return "expected a string"
        }
    }

    /// The normalization the spec gives, or the format's default.
    public func normalization(for format: DataFormat) -> Normalization {
        let fallback = format == .idx ? FashionMNIST.normalization : .identity
        return Normalization(mean: mean ?? (std == nil ? fallback.mean : [0]), std: std ?? (mean == nil ? fallback.std : [1]))
    }

    /// Field checks that need no file; `load` checks the rest against the data.
    public func validate() throws {
        guard !path.isEmpty else { throw DataError.invalidSpec(field: "data.path", reason: "must not be empty") }
        if mean != nil || std != nil { try normalization(for: format ?? .npz).validate(channels: nil, field: "data") }
        if let classes, classes < 1 { throw DataError.invalidSpec(field: "data.classes", reason: "must be at least 1, got \(classes)") }
        if let cropPadding, cropPadding < 0 {
            throw DataError.invalidSpec(field: "data.crop_padding", reason: "must be at least 0, got \(cropPadding)")
        }
        if let validation, validation < 0 {
            throw DataError.invalidSpec(field: "data.validation", reason: "must be at least 0, got \(validation)")
        }
        if let sha256, sha256.count != 64 || !sha256.allSatisfy({ $0.isHexDigit && !$0.isUppercase }) {
            throw DataError.invalidSpec(field: "data.sha256", reason: "expected 64 lowercase hexadecimal digits, got '\(sha256)'")
        }
        let format = try resolvedFormat()
        if layout != nil && format != .npz {
            throw DataError.invalidSpec(field: "data.layout", reason: "only npz data have a declared layout (this is \(format.rawValue))")
        }
        if classes != nil && format != .npz {
            throw DataError.invalidSpec(field: "data.classes",
                                        reason: "only npz data declare a class count (\(format.rawValue) data give their own)")
        }
    }

    /// `format`, or what `path` is: a `.npz` file, a directory with IDX files, a directory with a `train/` folder.
    public func resolvedFormat() throws -> DataFormat {
        if let format { return format }
        if path.lowercased().hasSuffix(".npz") { return .npz }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            // Not there: the IDX loader explains how to install Fashion-MNIST, the default source.
            return .idx
        }
        guard isDirectory.boolValue else {
            throw DataError.invalidSpec(field: "data.path", reason: "\(path) is a file but not a .npz; give data.format "
                                        + "or a directory (IDX files, or an image folder with train/ and val/)")
        }
        if FashionMNIST.isIDXDirectory(path) { return .idx }
        if FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent("train")) { return .imagefolder }
        throw DataError.invalidSpec(field: "data.path", reason: "\(path) holds neither \(FashionMNIST.trainImagesFile) (IDX) "
                                    + "nor a train/ folder (image folder); give data.format")
    }

    /// The reader for this spec's format.
    func reader() throws -> DataSourceReader.Type {
        switch try resolvedFormat() {
        case .idx: return IDXSource.self
        case .npz: return NpzSource.self
        case .imagefolder: return ImageFolderSource.self
        }
    }

    /// The SHA-256 of the source's bytes, as the loaded dataset's `datasetSHA256` (without decoding any image).
    public func fingerprint() throws -> String {
        try validate()
        return try reader().fingerprint(self)
    }

    /// The same spec with a standardized absolute path and `sha256` filled in; a given `sha256` must be the data's.
    public func pinned() throws -> DataSpec {
        var copy = self
        copy.path = URL(fileURLWithPath: path).standardizedFileURL.path
        let found = try copy.fingerprint()
        if let expected = sha256, expected != found {
            throw DataError.datasetMismatch(source: copy.path, expected: expected, found: found)
        }
        copy.sha256 = found
        return copy
    }

    /// Loads the data; `imageShape` ([channels, rows, columns], the model's input) is what image folders are
    /// resized and cropped to (npz and IDX images are what they are). A pinned `sha256` must match.
    public func load(imageShape: [Int]? = nil, splitSeed: UInt64 = 0) throws -> Dataset {
        try validate()
        let data = try reader().load(self, imageShape: imageShape, splitSeed: splitSeed)
        try data.checkIdentity(sha256)
        return try cropPadding.map { try data.withCropPadding($0, field: "data.crop_padding") } ?? data
    }

    /// Training images an npz or image folder of `poolCount` holds out for validation (IDX: `IDXSource`).
    func validationCount(poolCount: Int) -> Int { validation ?? poolCount / 10 }
}

/// One data format's reader: the dataset, and its fingerprint from the raw bytes alone.
protocol DataSourceReader {
    static func fingerprint(_ spec: DataSpec) throws -> String
    static func load(_ spec: DataSpec, imageShape: [Int]?, splitSeed: UInt64) throws -> Dataset
}

/// IDX directories through `FashionMNIST`.
enum IDXSource: DataSourceReader {
    static func fingerprint(_ spec: DataSpec) throws -> String { try FashionMNIST.fingerprint(directory: spec.path) }

    static func load(_ spec: DataSpec, imageShape: [Int]?, splitSeed: UInt64) throws -> Dataset {
        try FashionMNIST.load(directory: spec.path, splitSeed: splitSeed, normalization: spec.normalization(for: .idx),
                              validationCount: spec.validation ?? FashionMNIST.defaultValidationCount)
    }
}

/// A coding key for any name, to list the keys an object has.
struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

extension DataSpec {
    /// The spec the commands' `--data PATH [--data-mean M] [--data-std S] [--data-layout L]` options give; mean and
    /// std are one number or comma-separated numbers, one per channel. Errors name the option.
    public static func commandLine(path: String, mean: String?, std: String?, layout: String?,
                                   cropPadding: Int? = nil) throws -> DataSpec {
        func numbers(_ text: String?, option: String) throws -> [Float]? {
            guard let text else { return nil }
            let parts = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            let values = parts.compactMap(Float.init)
            guard !parts.isEmpty, values.count == parts.count else {
                throw DataError.invalidSpec(field: option, reason: "expected comma-separated numbers (one per channel), got '\(text)'")
            }
            return values
        }
        var spec = DataSpec(path: path, mean: try numbers(mean, option: "--data-mean"), std: try numbers(std, option: "--data-std"),
                            cropPadding: cropPadding)
        if let layout {
            guard let parsed = ChannelLayout(rawValue: layout.lowercased()) else {
                throw DataError.invalidSpec(field: "--data-layout", reason: "expected nhwc or nchw, got '\(layout)'")
            }
            spec.layout = parsed
        }
        try spec.validate()
        return spec
    }
}

extension DataSpec {
    /// The spec an agent's `--executor-option` values give: `data=PATH`, `data-mean=M`, `data-std=S`,
    /// `data-layout=L`, `data-crop-padding=P` (as the commands' `--data` options). Jobs that carry a normalization
    /// override the agent's.
    public static func agentOptions(_ options: [String: String]) throws -> DataSpec {
        let cropPadding = try options["data-crop-padding"].map { text -> Int in
            guard let value = Int(text) else {
                throw DataError.invalidSpec(field: "data-crop-padding", reason: "expected an integer, got '\(text)'")
            }
            return value
        }
        return try commandLine(path: options["data"] ?? FashionMNIST.defaultDirectory, mean: options["data-mean"],
                               std: options["data-std"], layout: options["data-layout"], cropPadding: cropPadding)
    }
}
