// Model zoo and checkpoints.
