// Agent core.
