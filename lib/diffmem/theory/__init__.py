"""Theory engines: pure NumPy/SciPy on scalars and small grids (no CuPy needed)."""
