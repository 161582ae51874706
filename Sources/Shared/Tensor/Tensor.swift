/// A dense float32 tensor in row-major order (images are NCHW).
///
/// Value semantics come from `[Float]`'s copy-on-write storage; kernels reach the memory through
/// `withUnsafe...` so that the hot loops are pointer loops.
public struct Tensor: Equatable, Sendable {
    public var shape: [Int]
    public var data: [Float]

    public init(shape: [Int], repeating value: Float = 0) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        self.shape = shape
        self.data = [Float](repeating: value, count: shape.reduce(1, *))
    }

    public init(shape: [Int], data: [Float]) {
        precondition(shape.reduce(1, *) == data.count, "shape \(shape) does not hold \(data.count) values")
        self.shape = shape
        self.data = data
    }

    /// A tensor whose every element `body` writes: skips zero-filling memory that is about to be overwritten.
    @inlinable
    public init(shape: [Int], initializingWith body: (UnsafeMutableBufferPointer<Float>) -> Void) {
        let n = shape.reduce(1, *)
        self.shape = shape
        self.data = [Float](unsafeUninitializedCapacity: n) { buffer, count in
            body(buffer)
            count = n
        }
    }

    /// Storage for `count` floats that the caller overwrites entirely before reading (im2col buffers,
    /// GEMM outputs with beta = 0): zero-filling them would be a wasted pass over memory.
    @inlinable
    public static func scratch(count: Int) -> [Float] {
        [Float](unsafeUninitializedCapacity: count) { _, initialized in initialized = count }
    }

    /// Number of elements.
    @inlinable public var count: Int { data.count }

    /// Size of dimension `i`.
    @inlinable public func dim(_ i: Int) -> Int { shape[i] }

    /// The same values under another shape with the same element count.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        Tensor(shape: newShape, data: data)
    }

    /// Tensor of zeros with the same shape.
    public func zerosLike() -> Tensor { Tensor(shape: shape) }

    /// Normal(0, std) entries drawn from a seeded generator.
    public static func randomNormal(shape: [Int], std: Float, using rng: inout SeededGenerator) -> Tensor {
        var t = Tensor(shape: shape)
        for i in 0..<t.count { t.data[i] = rng.nextNormal() * std }
        return t
    }

    /// Uniform(-bound, bound) entries drawn from a seeded generator.
    public static func randomUniform(shape: [Int], bound: Float, using rng: inout SeededGenerator) -> Tensor {
        var t = Tensor(shape: shape)
        for i in 0..<t.count { t.data[i] = (rng.nextUnitFloat() * 2 - 1) * bound }
        return t
    }

    /// Adds `other * scale` elementwise.
    public mutating func add(_ other: Tensor, scale: Float = 1) {
        precondition(other.count == count, "add: \(shape) vs \(other.shape)")
        data.withUnsafeMutableBufferPointer { d in
            other.data.withUnsafeBufferPointer { o in
                for i in 0..<d.count { d[i] += scale * o[i] }
            }
        }
    }

    /// Largest absolute elementwise difference, for tests and checks.
    public func maxAbsDifference(_ other: Tensor) -> Float {
        precondition(other.count == count)
        var m: Float = 0
        for i in 0..<count { m = max(m, abs(data[i] - other.data[i])) }
        return m
    }
}
