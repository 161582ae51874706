// SeerCompression: compression policies and their search space, tied channel groups, complexity counting;
// quantization and pruning of the engine's layers.
