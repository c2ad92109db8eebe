"""Debian's nginx serving an exported site with the shipped configuration (deploy/nginx.conf).

``nginx_site`` runs ``/usr/sbin/nginx`` in the foreground as one process (no daemon, no master), with its
prefix, pid file, error log and temporary folders in a temporary directory, on a loopback port. The
server block is the file ``python app.py export --web-config`` rendered from deploy/nginx.conf; the
main configuration around it is only what any nginx.conf has (events, http, paths).
"""

from __future__ import annotations

import contextlib
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

NGINX = Path("/usr/sbin/nginx")
START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 10.0

MAIN_CONF = """\
daemon off;
master_process off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    include {site_conf};
}}
"""


@dataclass(frozen=True)
class NginxSite:
    """A running nginx; ``url`` has no trailing slash."""

    port: int
    error_log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextlib.contextmanager
def nginx_site(site_conf: Path, port: int, tmp: Path) -> Iterator[NginxSite]:
    """Run nginx with the rendered server block ``site_conf`` (which listens on ``port``) until exit."""
    if not NGINX.exists():
        pytest.fail(f"{NGINX} is missing: ./dev test installs Debian's nginx-light", pytrace=False)
    tmp.mkdir(parents=True, exist_ok=True)
    main_conf = tmp / "nginx.conf"
    main_conf.write_text(MAIN_CONF.format(tmp=tmp, site_conf=site_conf))
    error_log = tmp / "error.log"
    command = [str(NGINX), "-p", str(tmp), "-c", str(main_conf), "-e", str(error_log)]
    checked = subprocess.run([*command, "-t"], capture_output=True, text=True, check=False)
    if checked.returncode != 0:
        pytest.fail(f"nginx refused the shipped configuration:\n{checked.stderr}", pytrace=False)
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    site = NginxSite(port, error_log)
    try:
        _wait_until_serving(site, process)
        yield site
    finally:
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_serving(site: NginxSite, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
            log = site.error_log.read_text(errors="replace") if site.error_log.exists() else ""
            pytest.fail(f"nginx exited with {process.returncode}:\n{stderr}\n{log}", pytrace=False)
        try:
            with urllib.request.urlopen(f"{site.url}/bundle.json", timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.05)
    pytest.fail(f"nginx did not serve {site.url} within {START_TIMEOUT_S} s", pytrace=False)
