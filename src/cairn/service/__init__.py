"""Operations that span packages, called by the HTTP API and open to the CLI: no I/O
formatting here, only calls into store/, scan/, trace/, cases/ and lists/ and the records
they return. (DESIGN.md: `service` is above every package and below `api`, `web`, `cli`.)"""
