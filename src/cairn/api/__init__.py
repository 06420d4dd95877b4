"""The HTTP API served by `cairn serve`: HMA-compatible /h, /m, /c; Cairn's /api/v1; TAXII; auth."""
