import ArgumentParser
import SeerCommandLine
import Foundation
import SeerData
import SeerTensor

/// `seer-agent dataset`: what Seer reads from a data source, so that another reader (agents/python) can be checked
/// against it and a user can see what a campaign will train and measure on.
struct DatasetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dataset",
        abstract: "Describe a data source as Seer loads it: SHA-256, image shape, classes, split sizes.",
        discussion: """
            Image folders are resized and center-cropped to --input-shape (the model's input); IDX and npz images are \
            what they are. With --dump DIR, every split is written as DIR/SPLIT-images.npy (float32 [N, C, H, W], \
            the model's input before normalization: byte pixels / 255, float pixels as stored) and \
            DIR/SPLIT-labels.npy (float32 [N]), SPLIT being train, validation and test.
            """)

    @OptionGroup var data: DataOptions
    @Option(help: "Training images held out as the validation split (default: 5000 for IDX, 10% otherwise).")
    var validation: Int?
    @Option(help: "The model's input C,H,W (image folders are resized to it), e.g. 3,32,32.")
    var inputShape: String?
    @Option(help: "Write every split's images and labels as .npy files into this directory.")
    var dump: String?

    func run() throws {
        var spec = try data.spec
        spec.validation = validation
        let shape = try inputShape.map { text -> [Int] in
            let values = text.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard values.count == 3, values.allSatisfy({ $0 > 0 }) else {
                throw ValidationError("--input-shape expects three positive integers C,H,W, got '\(text)'")
            }
            return values
        }
        let dataset = try spec.load(imageShape: shape)
        if let dump {
            let directory = URL(fileURLWithPath: dump)
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            for split in Split.allCases {
                let count = dataset.count(split)
                let pixels = (0..<count).flatMap { dataset.rawImage(split, position: $0) }
                try NumpyFile.write(Tensor(shape: [count] + dataset.imageShape, data: pixels),
                                    to: directory.appendingPathComponent("\(split)-images.npy"))
                try NumpyFile.write(Tensor(shape: [count], data: dataset.labels(split).map(Float.init)),
                                    to: directory.appendingPathComponent("\(split)-labels.npy"))
            }
        }
        let report: [String: Any] = [
            "format": try spec.resolvedFormat().rawValue, "path": dataset.source, "sha256": dataset.datasetSHA256,
            "image_shape": dataset.imageShape, "classes": dataset.classCount,
            "normalization": ["mean": dataset.normalization.mean.map(Double.init), "std": dataset.normalization.std.map(Double.init)],
            "counts": Dictionary(uniqueKeysWithValues: Split.allCases.map { ($0.rawValue, dataset.count($0)) }),
        ]
        let json = try JSONSerialization.data(withJSONObject: report, options: [.sortedKeys])
        print(String(decoding: json, as: UTF8.self))
    }
}
