"""Fail fast for a hub id that cannot be had: offline and not in the local cache.

transformers retries HTTP requests for a minute or two before it gives up when
there is no network. :func:`ensure_loadable` answers within seconds instead: a
model in the local Hugging Face cache is always fine; otherwise ``HF_HUB_OFFLINE``
or a hub host that does not accept a TCP connection within a few seconds means
it cannot be downloaded, and the usual one-line error is raised at once.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

PROBE_TIMEOUT_S = 3.0


def _truthy(name: str) -> bool:
    return os.environ.get(name, "").strip().upper() in ("1", "ON", "YES", "TRUE")


def offline_forced() -> bool:
    return _truthy("HF_HUB_OFFLINE") or _truthy("TRANSFORMERS_OFFLINE")


def in_local_cache(repo_id: str) -> bool:
    """True when the hub cache holds this model's config.json (so from_pretrained can work offline)."""
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(repo_id, "config.json")
    except Exception:  # an id the hub library rejects: let from_pretrained word the error
        return True
    return isinstance(found, str)


def hub_reachable(timeout: float = PROBE_TIMEOUT_S) -> bool:
    """A TCP connection to the hub endpoint (HF_ENDPOINT, else huggingface.co) opens within ``timeout``."""
    url = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    host = url.hostname or "huggingface.co"
    port = url.port or (80 if url.scheme == "http" else 443)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def unavailable_reason(repo_id: str) -> str | None:
    """Why ``repo_id`` cannot be loaded now (offline and not cached), or None when it may be tried."""
    if in_local_cache(repo_id):
        return None
    if offline_forced():
        return "HF_HUB_OFFLINE is set and it is not in the local cache"
    if not hub_reachable():
        return "no network connection to the Hugging Face hub and it is not in the local cache"
    return None
