import CImageCodecs
import Foundation

/// Image folders in torchvision's ImageFolder convention: `ROOT/train/CLASS/*.png|jpg|jpeg` for training (the
/// validation split is carved from it) and `ROOT/val/CLASS/...` (or `ROOT/test/...`) for the test split. Classes are
/// the sorted folder names under `train/`, as ImageFolder numbers them; files of other extensions are skipped, as
/// ImageFolder skips them.
///
/// Every image is decoded (libpng, libjpeg-turbo) to gray or RGB as the model's input has 1 or 3 channels, scaled so
/// that it covers the model's [rows, columns] (area-averaged when shrinking, bilinear when enlarging) and
/// center-cropped to it: torchvision's `Resize` + `CenterCrop`. The SHA-256 covers every image file's relative path
/// and bytes, in sorted order.
enum ImageFolderSource: DataSourceReader {
    static let extensions: Set<String> = ["png", "jpg", "jpeg"]
    static let testFolders = ["val", "test"]

    /// One split's files: (class index, path) in sorted order, and the class names.
    struct Listing {
        var classNames: [String]
        var files: [(label: Int, path: String)]
    }

    static func fingerprint(_ spec: DataSpec) throws -> String {
        let (train, test) = try list(spec.path)
        var hasher = SHA256()
        for file in train.files + test.files {
            add(try IDXReader.readFile(path: file.path), relativePath: String(file.path.dropFirst(spec.path.count)), to: &hasher)
        }
        return SHA256.hex(hasher.finalize())
    }

    /// One file's part of the fingerprint: its path below the root, a 0 byte, its length and its bytes.
    static func add(_ bytes: [UInt8], relativePath: String, to hasher: inout SHA256) {
        hasher.update(relativePath)
        hasher.update([0])
        withUnsafeBytes(of: UInt64(bytes.count).littleEndian) { hasher.update($0) }
        hasher.update(bytes)
    }

    static func load(_ spec: DataSpec, imageShape: [Int]?, splitSeed: UInt64) throws -> Dataset {
        guard let imageShape, imageShape.count == 3, [1, 3].contains(imageShape[0]), imageShape[1] > 0, imageShape[2] > 0 else {
            throw DataError.invalidSpec(field: "data.path", reason: "\(spec.path) is an image folder; its images are resized "
                + "to the model's input, which must be [1 or 3, rows, columns] (got \(imageShape.map { "\($0)" } ?? "no model"))")
        }
        let (train, test) = try list(spec.path)
        var hasher = SHA256()
        func decodeAll(_ listing: Listing) throws -> ImagePool {
            var pixels = [UInt8]()
            pixels.reserveCapacity(listing.files.count * imageShape.reduce(1, *))
            for file in listing.files {
                let bytes = try IDXReader.readFile(path: file.path)
                add(bytes, relativePath: String(file.path.dropFirst(spec.path.count)), to: &hasher)
                pixels += try decode(bytes, path: file.path, shape: imageShape)
            }
            return ImagePool(pixels: .bytes(pixels), labels: listing.files.map { Int32($0.label) })
        }
        let trainPool = try decodeAll(train)
        let testPool = try decodeAll(test)
        return try Dataset(imageShape: imageShape, classCount: train.classNames.count,
                           normalization: spec.normalization(for: .imagefolder), trainPool: trainPool, testPool: testPool,
                           validationCount: spec.validationCount(poolCount: trainPool.count),
                           splitSeed: splitSeed, datasetSHA256: SHA256.hex(hasher.finalize()), source: spec.path)
    }

    /// Names in Unicode code point order, as Python's `sorted` (torchvision's ImageFolder, the runtime agent) orders
    /// them. Swift's `<` compares canonically equivalent (NFC) forms, so a decomposed name ("e" + U+0301) would sort
    /// after "f" here and before it there, and class numbers would differ.
    static func codePointOrder(_ a: String, _ b: String) -> Bool {
        a.unicodeScalars.lexicographicallyPrecedes(b.unicodeScalars)
    }

    /// The train and test listings of `root`; test labels use train's class numbering.
    static func list(_ root: String) throws -> (train: Listing, test: Listing) {
        let fm = FileManager.default
        func folders(_ path: String) -> [String] {
            ((try? fm.contentsOfDirectory(atPath: path)) ?? []).filter { name in
                var isDirectory: ObjCBool = false
                return !name.hasPrefix(".") && fm.fileExists(atPath: path + "/" + name, isDirectory: &isDirectory)
                    && isDirectory.boolValue
            }.sorted(by: codePointOrder)
        }
        func images(_ path: String) -> [String] {
            ((try? fm.contentsOfDirectory(atPath: path)) ?? [])
                .filter { !$0.hasPrefix(".") && extensions.contains(($0 as NSString).pathExtension.lowercased()) }
                .sorted(by: codePointOrder).map { path + "/" + $0 }
        }
        let trainRoot = root + "/train"
        let classNames = folders(trainRoot)
        guard !classNames.isEmpty else {
            throw DataError.badFile(path: trainRoot, reason: "no class folders (an image folder holds train/CLASS/*.png|jpg)")
        }
        guard let testName = testFolders.first(where: { fm.fileExists(atPath: root + "/" + $0) }) else {
            throw DataError.badFile(path: root, reason: "no val/ (or test/) folder beside train/: the test split comes from it")
        }
        var train = Listing(classNames: classNames, files: [])
        for (label, name) in classNames.enumerated() {
            let files = images(trainRoot + "/" + name)
            guard !files.isEmpty else {
                throw DataError.badFile(path: trainRoot + "/" + name, reason: "no .png, .jpg or .jpeg images in this class folder")
            }
            train.files += files.map { (label, $0) }
        }
        var test = Listing(classNames: classNames, files: [])
        for name in folders(root + "/" + testName) {
            // Exact names, as Python compares them: two canonically equivalent spellings are two classes.
            guard let label = classNames.firstIndex(where: { $0.unicodeScalars.elementsEqual(name.unicodeScalars) }) else {
                throw DataError.badFile(path: root + "/" + testName + "/" + name,
                                        reason: "class '\(name)' is not among train/'s classes (\(classNames.joined(separator: ", ")))")
            }
            test.files += images(root + "/" + testName + "/" + name).map { (label, $0) }
        }
        return (train, test)
    }

    /// `bytes` (a PNG or JPEG, told by its signature) as `shape`'s channels, resized and center-cropped, CHW.
    static func decode(_ bytes: [UInt8], path: String, shape: [Int]) throws -> [UInt8] {
        let channels = Int32(shape[0])
        var pixels: UnsafeMutablePointer<UInt8>?
        var width: Int32 = 0, height: Int32 = 0
        var message = [CChar](repeating: 0, count: 256)
        let status: Int32 = bytes.withUnsafeBufferPointer { data in
            if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]) {
                return seer_decode_png(data.baseAddress, data.count, channels, &pixels, &width, &height, &message, message.count)
            }
            if bytes.starts(with: [0xFF, 0xD8]) {
                return seer_decode_jpeg(data.baseAddress, data.count, channels, &pixels, &width, &height, &message, message.count)
            }
            return -2
        }
        guard status != -2 else { throw DataError.badFile(path: path, reason: "neither a PNG nor a JPEG (by its first bytes)") }
        guard status == 0, let pixels, width > 0, height > 0 else {
            throw DataError.badFile(path: path, reason: "cannot decode: " + String(cString: message))
        }
        defer { seer_image_free(pixels) }
        let decoded = UnsafeBufferPointer(start: pixels, count: Int(width) * Int(height) * Int(channels))
        return resizeAndCrop(decoded, width: Int(width), height: Int(height), channels: Int(channels),
                             rows: shape[1], columns: shape[2])
    }

    /// Interleaved `channels` pixels scaled to cover rows x columns and center-cropped; the result is CHW.
    static func resizeAndCrop(_ source: UnsafeBufferPointer<UInt8>, width: Int, height: Int, channels: Int,
                              rows: Int, columns: Int) -> [UInt8] {
        let scale = max(Double(rows) / Double(height), Double(columns) / Double(width))
        // Offsets of the crop inside the scaled image, in scaled pixels.
        let top = (Double(height) * scale - Double(rows)) / 2
        let left = (Double(width) * scale - Double(columns)) / 2
        var out = [UInt8](repeating: 0, count: channels * rows * columns)
        func sample(_ x: Int, _ y: Int, _ c: Int) -> Double { Double(source[(y * width + x) * channels + c]) }
        for y in 0..<rows {
            for x in 0..<columns {
                for c in 0..<channels {
                    let value: Double
                    if scale < 1 {
                        // Area average over the source rectangle this output pixel covers.
                        let y0 = (Double(y) + top) / scale, y1 = (Double(y + 1) + top) / scale
                        let x0 = (Double(x) + left) / scale, x1 = (Double(x + 1) + left) / scale
                        var sum = 0.0, weight = 0.0
                        for sy in Int(y0)..<min(height, Int(y1.rounded(.up))) {
                            let wy = min(y1, Double(sy + 1)) - max(y0, Double(sy))
                            for sx in Int(x0)..<min(width, Int(x1.rounded(.up))) {
                                let w = wy * (min(x1, Double(sx + 1)) - max(x0, Double(sx)))
                                sum += w * sample(sx, sy, c)
                                weight += w
                            }
                        }
                        value = weight > 0 ? sum / weight : 0
                    } else {
                        // Bilinear at the output pixel's centre, half-pixel aligned, edges clamped.
                        let sy = min(max((Double(y) + 0.5 + top) / scale - 0.5, 0), Double(height - 1))
                        let sx = min(max((Double(x) + 0.5 + left) / scale - 0.5, 0), Double(width - 1))
                        let y0 = Int(sy), x0 = Int(sx)
                        let y1 = min(y0 + 1, height - 1), x1 = min(x0 + 1, width - 1)
                        let fy = sy - Double(y0), fx = sx - Double(x0)
                        value = (1 - fy) * ((1 - fx) * sample(x0, y0, c) + fx * sample(x1, y0, c))
                            + fy * ((1 - fx) * sample(x0, y1, c) + fx * sample(x1, y1, c))
                    }
                    out[(c * rows + y) * columns + x] = UInt8(min(255, max(0, value.rounded())))
                }
            }
        }
        return out
    }
}
