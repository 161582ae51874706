import Foundation

/// Everything that can go wrong loading, decoding or batching a dataset, each case naming the file or value at fault.
public enum DataError: Error, Equatable, Sendable, CustomStringConvertible, LocalizedError {
    /// A dataset file does not exist; the message says how to install the dataset or where to point `--data`.
    case missingFile(path: String, directory: String)
    /// The file exists but could not be read (permissions, I/O error, is a directory).
    case unreadableFile(path: String, reason: String)
    /// The bytes are not a valid gzip stream.
    case corruptGzip(path: String, reason: String)
    /// The IDX header is malformed (wrong magic, element type or dimension count, zero-sized header).
    case badIDXHeader(path: String, reason: String)
    /// The decompressed payload is shorter than the header declares.
    case truncated(path: String, expectedBytes: Int, foundBytes: Int)
    /// The decompressed payload continues past what the header declares.
    case trailingBytes(path: String, expectedBytes: Int)
    /// An images file and its labels file disagree on the number of examples.
    case countMismatch(imagesPath: String, imageCount: Int, labelsPath: String, labelCount: Int)
    /// A label lies outside the dataset's class range.
    case labelOutOfRange(path: String, index: Int, label: Int, classCount: Int)
    /// Train and test images have different sizes.
    case imageSizeMismatch(trainPath: String, trainSize: [Int], testPath: String, testSize: [Int])
    /// A caller asked for something the dataset cannot give (index out of range, subset larger than the split, ...).
    case invalidRequest(String)
    /// A field of a data spec (`data:` in a config, `--data` options) is wrong; `field` is its dotted name.
    case invalidSpec(field: String, reason: String)
    /// An npz, npy or image file is not what its format requires.
    case badFile(path: String, reason: String)
    /// The data are not the ones a job or spec names by SHA-256 (they differ from the coordinator's).
    case datasetMismatch(source: String, expected: String, found: String)

    /// One sentence naming the file or value at fault and, where there is one, the fix.
    public var description: String {
        switch self {
        case let .missingFile(path, directory):
            return "Fashion-MNIST file \(path) not found (looked in \(directory)). "
                + "Install the Debian package dataset-fashion-mnist (apt-get install dataset-fashion-mnist), "
                + "or pass --data DIR naming a directory that holds train-images-idx3-ubyte.gz, "
                + "train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz."
        case let .unreadableFile(path, reason):
            return "cannot read \(path): \(reason)"
        case let .corruptGzip(path, reason):
            return "\(path) is not a valid gzip file: \(reason)"
        case let .badIDXHeader(path, reason):
            return "\(path) has a bad IDX header: \(reason)"
        case let .truncated(path, expected, found):
            return "\(path) is truncated: its IDX header declares \(expected) bytes in total, "
                + "but the decompressed file holds only \(found)"
        case let .trailingBytes(path, expected):
            return "\(path) has extra bytes: its IDX header declares \(expected) bytes in total, "
                + "but the decompressed file continues past that"
        case let .countMismatch(imagesPath, imageCount, labelsPath, labelCount):
            return "\(imagesPath) holds \(imageCount) images but \(labelsPath) holds \(labelCount) labels"
        case let .labelOutOfRange(path, index, label, classCount):
            return "\(path): label \(label) at index \(index) is outside 0..<\(classCount)"
        case let .imageSizeMismatch(trainPath, trainSize, testPath, testSize):
            return "\(trainPath) has \(trainSize.map(String.init).joined(separator: "x")) images but "
                + "\(testPath) has \(testSize.map(String.init).joined(separator: "x"))"
        case let .invalidRequest(message):
            return message
        case let .invalidSpec(field, reason):
            return "\(field): \(reason)"
        case let .badFile(path, reason):
            return "\(path): \(reason)"
        case let .datasetMismatch(source, expected, found):
            return "the data in \(source) have SHA-256 \(found), but the job (or spec) names data with SHA-256 \(expected): "
                + "this machine's data differ from the coordinator's; point it at the same files"
        }
    }
}

extension DataError {
    /// Makes `localizedDescription` show this message instead of Foundation's generic text.
    public var errorDescription: String? { description }
}
