"""The scan pipeline: source -> items, in parallel, resumable and idempotent."""
