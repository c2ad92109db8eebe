"""Self-hosting (issue 17, part 1): Debian's nginx serves an exported bundle with the shipped configuration,
and the broker runs elsewhere (``python app.py serve --no-static``).

``python app.py export`` writes the site and, from deploy/nginx.conf, its server block; nginx runs it on
loopback. A page loads from nginx with the CSP the deployment needs (the response header, and no CSP
violation in either page); ``python app.py verify`` against nginx passes and prints the exported root
hash; two people connect through the broker on another port, named by the hashed deployment file, and
exchange messages both ways (the mailbox, on the broker's server too, is named the same way). The broker
serves no page and refuses a WebSocket from another site's page.
The deployment's ICE server reaches a new profile's settings.
"""

from __future__ import annotations

import http.client
import re
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import expect

from pyfront.messaging.deployment import DEPLOYMENT_URL, Deployment
from pyfront.messaging.settings import parse_ice_lines
from server import export
from tests.browser.app_steps import STEP_MS, connect_by_invite, message, screen, send
from tests.rig.browser import BrowserContextFactory, console_log, save_screenshot
from tests.rig.nginx import nginx_site
from tests.rig.server import REPO_ROOT, LiveServerFactory, free_port

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("selfhost_nginx")]

EXPORT_TIMEOUT_S = 900  # builds first; compiling the bytecode on a cold cache takes minutes
VERIFY_TIMEOUT_S = 300

#: Every CSP violation the page sees, collected from the first script on (not subject to the CSP).
CSP_WATCH = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""


def app_py(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "app.py"), *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def websocket_upgrade_status(port: int, origin: str) -> int:
    """The broker's answer to a browser-like WebSocket upgrade from a page at ``origin``."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(
            "GET",
            "/peerjs/peerjs?key=peerjs&id=pselfhost0000000000000000000000&token=t",
            headers={
                "Upgrade": "websocket",
                "Connection": "Upgrade",
                "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
                "Sec-WebSocket-Version": "13",
                "Origin": origin,
            },
        )
        return connection.getresponse().status
    finally:
        connection.close()


def test_exported_bundle_on_nginx_with_a_separate_broker(
    tmp_path: Path, live_server_factory: LiveServerFactory, browser_context: BrowserContextFactory
) -> None:
    nginx_port, broker_port = free_port(), free_port()
    site_url = f"http://127.0.0.1:{nginx_port}"
    broker_url = f"http://127.0.0.1:{broker_port}/peerjs"
    mailbox_url = f"http://127.0.0.1:{broker_port}/mailbox/v1"
    stun = f"stun:127.0.0.1:{free_port()}"
    deployment = Deployment(broker_url, parse_ice_lines(stun), mailbox_url)

    # Export: the site, its deployment file in the manifest, and the nginx server block.
    exported = app_py(
        "export",
        str(tmp_path / "site"),
        "--broker",
        broker_url,
        "--turn",
        stun,
        "--mailbox",
        mailbox_url,
        "--web-config",
        str(tmp_path / "conf"),
        "--listen",
        f"127.0.0.1:{nginx_port}",
        "--server-name",
        "localhost",
        timeout=EXPORT_TIMEOUT_S,
    )
    assert exported.returncode == 0, exported.stderr
    found = re.search(r"root hash ([0-9a-f]{64})", exported.stdout)
    assert found, exported.stdout
    root = found.group(1)
    site = tmp_path / "site"
    for name in ("index.html", "bundle.json", "service_worker.js", "manifest.webmanifest"):
        assert (site / name).is_file(), name
    assert (site / "static/vendor/pyodide/pyodide.asm.wasm.gz").is_file()
    assert (site / "static/vendor/pyodide/pyodide.asm.wasm.br").is_file()
    assert (site / DEPLOYMENT_URL.removeprefix("/")).read_bytes() == deployment.to_json()

    # The broker alone: no page here, and pages of other sites are refused.
    broker = live_server_factory(
        port=broker_port,
        static_root=tmp_path / "no-static-here",
        extra_args=("--no-static", "--allow-origin", site_url),
    )
    with pytest.raises(urllib.error.HTTPError) as no_page:
        urllib.request.urlopen(f"{broker.url}/", timeout=10)
    assert no_page.value.code == 404
    assert websocket_upgrade_status(broker_port, "http://127.0.0.2:8080") == 403
    assert websocket_upgrade_status(broker_port, site_url) == 101

    with nginx_site(tmp_path / "conf" / "nginx.conf", nginx_port, tmp_path / "nginx") as nginx:
        verified = app_py("verify", nginx.url, timeout=VERIFY_TIMEOUT_S)
        assert verified.returncode == 0, verified.stderr
        assert verified.stdout.strip() == root
        assert broker_url in verified.stderr  # the deployment it trusts is shown

        contexts = [browser_context(), browser_context()]
        for context in contexts:
            context.add_init_script(CSP_WATCH)
        alice, bob = (context.new_page() for context in contexts)
        logs = [console_log(alice), console_log(bob)]
        sockets: list[str] = []
        for page in (alice, bob):
            page.on("websocket", lambda socket: sockets.append(socket.url))

        response = alice.goto(nginx.url)
        assert response is not None
        assert response.headers["content-security-policy"] == export.content_security_policy(deployment)
        assert f"ws://127.0.0.1:{broker_port}" in response.headers["content-security-policy"]
        assert response.headers["x-content-type-options"] == "nosniff"

        connect_by_invite(alice, bob, nginx.url)
        assert sockets and all(
            url.startswith(f"ws://127.0.0.1:{broker_port}/peerjs/peerjs?") for url in sockets
        )
        send(bob, "hello through nginx")
        request = alice.locator("#requests .contact")
        expect(request).to_have_attribute("data-state", "ready", timeout=STEP_MS)
        request.click()
        screen(alice, "chat")
        expect(message(alice, "hello through nginx")).to_have_count(1, timeout=STEP_MS)
        alice.click("#request-accept")
        send(alice, "and back")
        expect(message(bob, "and back")).to_have_count(1, timeout=STEP_MS)
        save_screenshot(bob, "selfhost-nginx-chat")

        # The deployment's ICE server is in the new profile's settings.
        alice.click("#chat-back")
        screen(alice, "home")
        alice.click("#open-settings")
        screen(alice, "settings")
        expect(alice.locator("#settings-ice")).to_have_value(stun)

        for page, log in zip((alice, bob), logs, strict=True):
            assert page.evaluate("window.__cspViolations") == []
            assert [line for line in log if "Content Security Policy" in line] == []
