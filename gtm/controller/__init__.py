"""The shell that wires probers, the pure core and the registry together."""
