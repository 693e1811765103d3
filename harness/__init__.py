"""tensorop: generate, verify and measure tensor operators on real and emulated devices."""
__version__ = "0.1.0"
