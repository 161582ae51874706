import ArgumentParser
import SeerData

/// `--data` and its companions: any data source `DataSpec` reads (IDX directory, .npz, image folder). Shared by
/// `seer-agent` and `seer-coordinator`, so both take data the same way.
public struct DataOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Data: a Fashion-MNIST/MNIST IDX directory, a Keras-style .npz (x_train, y_train, x_test, "
                               + "y_test), or an image folder (ROOT/train/CLASS/*.png|jpg and ROOT/val/...)."))
    public var data = FashionMNIST.defaultDirectory
    @Option(help: "Per-channel mean for normalization, comma-separated (default: Fashion-MNIST's for IDX, 0 otherwise).")
    public var dataMean: String?
    @Option(help: "Per-channel std for normalization, comma-separated (default: Fashion-MNIST's for IDX, 1 otherwise).")
    public var dataStd: String?
    @Option(help: "Channel axis of 4-D npz images: nhwc or nchw (default: inferred).") public var dataLayout: String?
    @Option(help: "Training augmentation's random-crop padding in pixels (default: 2).") public var dataCropPadding: Int?

    public init() {}

    public var spec: DataSpec {
        get throws {
            try DataSpec.commandLine(path: data, mean: dataMean, std: dataStd, layout: dataLayout, cropPadding: dataCropPadding)
        }
    }
}
