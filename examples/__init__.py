"""Examples, run as scripts (`python examples/quickstart.py`); a package so that tests can
import what they test."""
