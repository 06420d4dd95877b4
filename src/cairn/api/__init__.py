"""The HTTP API served by `cairn serve`: HMA-compatible routes, Cairn's /api/v1, TAXII, auth."""
