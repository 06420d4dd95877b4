"""Reading evidence: walking sources, sniffing types from magic bytes, decoding safely."""
