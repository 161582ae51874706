// Training loop.
