"""Tracing: content families (near-duplicate clusters), generator-fingerprint links, the link
graph and first-seen timelines, over what scans recorded."""
