"""Runnable examples: ``python -m convcore.examples.lenet``."""
