"""Cairn: detect known and synthetic abuse imagery in evidence, trace it, share hash signals."""

__version__ = "0.1.0"
