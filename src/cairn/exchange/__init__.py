"""Sharing with partners: case exports for review tools, TAXII 2.1, TLP, feedback."""
