// Compression policies, quantization, pruning, complexity.
