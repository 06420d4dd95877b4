"""The reviewer's workbench: server-rendered pages under /ui/ in the app `cairn serve` runs,
with exposure controls on by default (routes.py), thumbnails made lazily and cached in the
store's home (thumbs.py), a priority review queue (queue.py) and schemes as data
(schemes.toml)."""
