"""Pure functions from bytes or pixels to hashes. No I/O beyond the bytes they are given."""
