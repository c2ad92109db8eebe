"""What the page learns from the site it was served by: the deployment file of the bundle.

``/static/vendor/deployment.json`` is part of the hashed bundle (``pyfront/messaging/deployment.py``); the
service worker serves it from the verified copy like every other file. A bundle without it (built before
the file existed) runs as ``python app.py serve`` does: broker and mailbox on the page's own origin. A file
that is there but malformed stops the start with its reason: a page must not fall back to other servers
than the ones its bundle names.
"""

from __future__ import annotations

import js

from pyfront.messaging.deployment import DEPLOYMENT_URL, Deployment

HTTP_NOT_FOUND = 404


async def fetch_deployment() -> Deployment:
    """The deployment this bundle was exported for (``DecodeError`` names what is wrong with it)."""
    response = await js.fetch(DEPLOYMENT_URL)
    if response.status == HTTP_NOT_FOUND:
        return Deployment()
    if not response.ok:
        raise RuntimeError(f"{DEPLOYMENT_URL}: HTTP {response.status}")
    raw = bytes((await response.arrayBuffer()).to_py())
    return Deployment.from_json(raw)
