"""Coverage-guided fuzzing of every reader of evidence bytes (see fuzz/run.py)."""
