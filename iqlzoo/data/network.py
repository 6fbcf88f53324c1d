"""Whether dataset downloads can work in this process: an explicit offline switch, else one quick connection probe.

Without a network, ``huggingface_hub`` retries every request five times with back-off (~23 s) before it gives up,
and Minari downloads through it, so every dataset lookup would pay that. Instead :func:`download_blocker` answers
once per process: an offline switch (``HF_HUB_OFFLINE``, ``MINARI_OFFLINE``) if one is set, else a TCP connection
to the host Minari downloads from (through the HTTPS proxy when one is configured) with a
:data:`PROBE_TIMEOUT_S` timeout, whose answer is cached.
"""

from __future__ import annotations

import functools
import os
import socket
import urllib.request
from urllib.parse import urlsplit

OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "MINARI_OFFLINE")
PROBE_TIMEOUT_S = 3.0
"""Seconds the connection probe waits: a reachable host answers a TCP handshake in well under a second."""


def offline_switch() -> str | None:
    """The name of the offline variable that is set (to anything but ``""`` or ``"0"``), or None."""
    return next((name for name in OFFLINE_VARIABLES if os.environ.get(name, "") not in ("", "0")), None)


def download_url() -> str:
    """The base URL Minari downloads from: Google Cloud Storage for a ``gcp://`` ``MINARI_REMOTE``, else the
    Hugging Face endpoint (``HF_ENDPOINT``, as ``huggingface_hub`` read it when first imported)."""
    if os.environ.get("MINARI_REMOTE", "").startswith("gcp://"):
        return "https://storage.googleapis.com"
    from huggingface_hub import constants

    return constants.ENDPOINT


@functools.cache
def unreachable(url: str, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """Why ``url``'s host cannot be reached (``"huggingface.co:443 cannot be reached: Connection refused"``), or None
    when a TCP
    connection to it (or to the HTTPS proxy that serves it) opens within ``timeout`` seconds. Cached per process."""
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
    target, via = (host, port), ""
    proxy = urllib.request.getproxies().get(parts.scheme or "https")
    if proxy and not urllib.request.proxy_bypass(host):
        proxied = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        target, via = (proxied.hostname or "", proxied.port or 80), f" through the proxy {proxied.netloc}"
    try:
        socket.create_connection(target, timeout=timeout).close()
    except OSError as error:
        return f"{host}:{port}{via} cannot be reached: {error.strerror or error}"
    return None


def download_blocker() -> str | None:
    """Why downloads cannot work in this process (an offline switch, or the probe of :func:`unreachable`), or None."""
    switch = offline_switch()
    if switch is not None:
        return f"{switch} is set"
    return unreachable(download_url())
