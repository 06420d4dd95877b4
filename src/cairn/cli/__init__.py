"""The `cairn` command: `main` holds the root group and the verbs on evidence (hash, match,
provenance, scan, report, rehash, trace, demo); one module per verb group beside it (lists,
exchange and serve, custody and keys, people and cases, platform, referral, users and tokens),
`common` their shared options and output, `text` safe terminal output. Thin adapters: they
parse, call the packages (or service/), and print."""

from cairn.cli.main import cli, main
from cairn.cli.report import REPORT_FORMATS

__all__ = ["REPORT_FORMATS", "cli", "main"]
