"""Cases: what was scanned for whom, and the reports made of it."""
