"""Simulation engines, written once against the array module of their inputs (NumPy or CuPy)."""
