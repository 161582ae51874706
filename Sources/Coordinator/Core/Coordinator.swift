// Coordinator core.
