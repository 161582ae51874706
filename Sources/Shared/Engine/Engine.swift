// Layers with forward and backward side by side; see Graph.swift for the sweep.
