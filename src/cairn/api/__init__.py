"""The HTTP API: HMA-compatible /h, /m, /c; Cairn's /api/v1; auth (users, roles, tokens)."""
