"""Start a real Home Assistant process on loopback and onboard it without a human.

Reused by every end-to-end test: the process runs the same way `scripts/develop` runs it
(`hass --config DIR` with the repository on PYTHONPATH), on a free port.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
import json
import os
from pathlib import Path
import shutil
import socket
import subprocess
import sys
import time
from typing import Any
import urllib.error
import urllib.parse
import urllib.request

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class HassInstance:
    """A running `hass` process and an owner's access token."""

    base_url: str
    config_dir: Path
    process: subprocess.Popen[bytes]
    token: str = ""
    timeout: float = 90.0
    command: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)

    def request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        form: dict[str, str] | None = None,
        auth: bool = True,
    ) -> tuple[int, Any]:
        headers = {}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        if auth and self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(
            self.base_url + path, data=data, headers=headers, method=method
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                raw = resp.read()
                status = resp.status
        except urllib.error.HTTPError as err:
            raw = err.read()
            status = err.code
        try:
            return status, json.loads(raw) if raw else None
        except json.JSONDecodeError:
            return status, raw.decode(errors="replace")

    def onboard(self) -> str:
        """Create the owner account through the onboarding API and return an access token."""
        client_id = self.base_url + "/"
        status, body = self.request(
            "POST",
            "/api/onboarding/users",
            {
                "client_id": client_id,
                "name": "Test Owner",
                "username": "owner",
                "password": "correct-horse-battery",
                "language": "en",
            },
            auth=False,
        )
        assert status == 200, body
        status, tokens = self.request(
            "POST",
            "/auth/token",
            form={
                "grant_type": "authorization_code",
                "code": body["auth_code"],
                "client_id": client_id,
            },
            auth=False,
        )
        assert status == 200, tokens
        self.token = tokens["access_token"]
        self.wait_running()
        return self.token

    def wait_running(self, timeout: float = 120.0) -> None:
        """Wait until Home Assistant reports that start-up has finished."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, config = self.request("GET", "/api/config")
            if status == 200 and config.get("state") == "RUNNING":
                return
            time.sleep(0.5)
        raise TimeoutError(f"hass did not finish starting:\n{self.log()[-4000:]}")

    def wait_answering(self, timeout: float = 120.0) -> None:
        """Wait until the HTTP server answers (before onboarding, or after a restart)."""
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"hass exited early:\n{self.log()[-4000:]}")
            try:
                status, _ = self.request("GET", "/api/onboarding", auth=False)
                if status == 200:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"hass did not answer:\n{self.log()[-4000:]}")
            time.sleep(0.5)

    def stop(self) -> None:
        """Stop Home Assistant as a service manager would (SIGTERM, then SIGKILL)."""
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def start(self) -> None:
        """Start `hass` again (after `stop`) on the same configuration and port."""
        self.process = _start(self.command, self.env)
        self.wait_answering()
        self.wait_running()

    def restart(self) -> None:
        """Stop `hass` and start it again on the same configuration and port."""
        self.stop()
        self.start()

    def log(self) -> str:
        log_file = self.config_dir / "home-assistant.log"
        return log_file.read_text(errors="replace") if log_file.exists() else ""


@contextmanager
def run_hass(
    tmp_dir: Path,
    *,
    timeout: float = 120.0,
    env: dict[str, str] | None = None,
    extra_config: str = "",
) -> Iterator[HassInstance]:
    """Run `hass` on a copy of the demo configuration until the block ends.

    `env` adds environment variables (e.g. `ANTHROPIC_BASE_URL` for a local API; a
    `PYTHONPATH` goes before the repository's); `extra_config` is appended to
    configuration.yaml.
    """
    config_dir = tmp_dir / "config"
    config_dir.mkdir()
    port = free_port()
    shutil.copy(REPO / "config" / "configuration.yaml", config_dir)
    if extra_config:
        with (config_dir / "configuration.yaml").open("a") as config:
            config.write("\n" + extra_config)
    # As scripts/develop does: HTTP settings stored as stable, so no 5-minute trial.
    subprocess.run(
        [
            sys.executable,
            REPO / "scripts" / "http_store.py",
            config_dir,
            "127.0.0.1",
            str(port),
        ],
        check=True,
    )
    extra = env or {}
    paths = [extra["PYTHONPATH"]] if "PYTHONPATH" in extra else []
    env = {**os.environ, **extra, "PYTHONPATH": os.pathsep.join([*paths, str(REPO)])}
    hass_bin = shutil.which("hass") or str(Path(sys.executable).with_name("hass"))
    command = [
        hass_bin,
        "--config",
        str(config_dir),
        "--log-file",
        str(config_dir / "home-assistant.log"),
    ]
    instance = HassInstance(
        f"http://127.0.0.1:{port}",
        config_dir,
        _start(command, env),
        command=command,
        env=env,
    )
    try:
        instance.wait_answering(timeout)
        yield instance
    finally:
        instance.stop()


def _start(command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        command,
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
