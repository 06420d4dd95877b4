"""Users, tokens and a real `cairn serve` for the HTTP tests (test_auth.py, test_api_v1.py):
the store's users made through the CLI in-process, and the server as a subprocess on
loopback, on the port it bound and printed (`--port 0`)."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn

from cairn.store import Store
from conftest import CAIRN
from inprocess import DB_URLS, run

PASSWORD = "correct horse battery"  # a fictional user's password, for the tests only


def open_store(home: Path) -> Store:
    url = DB_URLS.get(home)
    return Store.open(home) if url is None else Store(url, home)


def cli_json(home: Path, *args: object, ok: tuple[int, ...] = (0,)) -> object:
    return json.loads(run(home, *args, "--json", ok=ok))


def add_user(home: Path, name: str, role: str, password: str = PASSWORD) -> None:
    """`cairn users add --password-stdin` (in-process, the password on standard input)."""
    from click.testing import CliRunner

    from cairn.cli import cli

    res = CliRunner().invoke(cli, ["users", "add", name, "--role", role, "--password-stdin"],
                             input=password + "\n", obj={}, catch_exceptions=False,
                             env={"CAIRN_HOME": str(home), "CAIRN_EXAMINER": "examiner-01",
                                  "CAIRN_DATABASE_URL": DB_URLS.get(home)})
    assert res.exit_code == 0, res.output


def token(home: Path, user: str, scope: str, *extra: str) -> str:
    return str(cli_json(home, "tokens", "create", "--user", user, "--scope", scope,
                        *extra)["token"])  # type: ignore[index]


class Server:
    """`cairn serve --port 0` on loopback: the port it printed once it had bound it."""

    def __init__(self, home: Path, *args: str) -> None:
        env = os.environ | {"CAIRN_HOME": str(home), "CAIRN_EXAMINER": "examiner-01"}
        env.pop("CAIRN_DATABASE_URL", None)
        if DB_URLS.get(home):
            env["CAIRN_DATABASE_URL"] = str(DB_URLS[home])
        self.proc = subprocess.Popen([CAIRN, "serve", "--port", "0", *args], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline()
        if "listening on " not in first:
            self.stop()
            raise RuntimeError(f"cairn serve: {first}{self.proc.stderr.read()}")  # type: ignore[union-attr]
        self.url = first.split("listening on ")[1].split()[0]
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(self.url + "/status", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.stop()
                raise RuntimeError("cairn serve did not answer /status")
            time.sleep(0.1)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@contextmanager
def serving(app: object) -> Iterator[str]:
    """A real uvicorn server on a loopback port it picks itself; yields its base URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off",
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
