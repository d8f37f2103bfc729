"""The LXD image store: a stopped container published as an image, cmlinfra's images listed
and deleted.

LXD's REST API does both (``POST /1.0/images`` with an instance source); the calls are
asynchronous operations, waited on with ``/1.0/operations/<id>/wait`` and a deadline. The
stack's :class:`LxdApi` carries the socket; this module adds the few write calls images need.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from cmlinfra.clouds.base import Image
from cmlinfra.clouds.lxd.api import LxdApi, LxdNotFound
from cmlinfra.clouds.lxd.tags import IMAGE_PROPERTY
from cmlinfra.errors import CmlinfraError, UsageError


def _call(api: LxdApi, method: str, url: str, body: Any, wait: float) -> dict[str, Any]:
    """One write call; an async answer is waited for until it finishes (or ``wait`` runs out)."""
    status, raw = api._request(method, url, body)  # the stack's client owns the socket
    data = json.loads(raw or b"{}")
    if status >= 400 or data.get("type") == "error":
        raise CmlinfraError(f"LXD refused {method} {url}: {data.get('error') or status}")
    if data.get("type") != "async":
        return dict(data.get("metadata") or {})
    operation = str(data["operation"])
    deadline = time.monotonic() + wait
    while True:  # LXD's wait endpoint blocks server-side; we loop for our own deadline
        left = max(1, int(min(30, deadline - time.monotonic())))
        # the server holds the answer up to `left` s: the socket must wait longer than that
        status, raw = api._request("GET", f"{operation}/wait?timeout={left}", None, left + 10)
        meta = json.loads(raw or b"{}").get("metadata") or {}
        if meta.get("status") == "Success":
            return dict(meta.get("metadata") or {})
        if meta.get("status") in {"Failure", "Cancelled"}:
            raise CmlinfraError(f"LXD {method} {url} failed: {meta.get('err') or meta['status']}")
        if time.monotonic() > deadline:
            raise CmlinfraError(
                f"LXD {method} {url} did not finish within {wait:.0f}s",
                "check 'lxc operation list' and the LXD log",
            )


def stop(api: LxdApi, name: str, timeout: float = 120) -> None:
    """Shut the container down cleanly (its journal flushed, services stopped)."""
    record = api.instance(name)
    if record is None or record.get("status") == "Stopped":
        return
    url = f"/1.0/instances/{urllib.parse.quote(name)}/state"
    try:
        _call(api, "PUT", url, {"action": "stop", "timeout": int(timeout)}, timeout + 30)
    except CmlinfraError:
        _call(api, "PUT", url, {"action": "stop", "force": True}, 60)


def alias_target(api: LxdApi, alias: str) -> str | None:
    """The fingerprint an alias points at, or None."""
    try:
        meta = api.get(f"/1.0/images/aliases/{urllib.parse.quote(alias)}")
    except LxdNotFound:
        return None
    return str(meta["target"]) if meta else None


def publish(
    api: LxdApi,
    instance: str,
    alias: str,
    properties: dict[str, str],
    *,
    replace: bool = False,
    wait: float = 900,
) -> str:
    """Publish the stopped ``instance`` as an image with ``alias`` and ``properties``; return
    its fingerprint. With ``replace``, an existing alias moves to the new image and the old
    image is deleted once nothing else points at it."""
    old = alias_target(api, alias)
    if old and not replace:
        raise CmlinfraError(f"LXD image alias {alias!r} exists", "choose another name or --replace")
    body = {
        "source": {"type": "instance", "name": instance},
        "properties": {IMAGE_PROPERTY: "true", **properties},
        # Local images are never transferred: skipping compression saves minutes per bake.
        "compression_algorithm": "none",
        "public": False,
    }
    fingerprint = str(_call(api, "POST", "/1.0/images", body, wait)["fingerprint"])
    quoted = urllib.parse.quote(alias)
    if old:
        _call(api, "PUT", f"/1.0/images/aliases/{quoted}", {"target": fingerprint}, 60)
        if old != fingerprint:
            delete(api, old)
    else:
        _call(api, "POST", "/1.0/images/aliases", {"name": alias, "target": fingerprint}, 60)
    return fingerprint


def delete(api: LxdApi, fingerprint: str) -> None:
    try:
        _call(api, "DELETE", f"/1.0/images/{fingerprint}", None, 120)
    except CmlinfraError as exc:
        if "not found" not in exc.problem.lower():
            raise


def list_images(api: LxdApi) -> list[Image]:
    """cmlinfra's images: alias, fingerprint, size, creation time and the recorded steps."""
    rows = []
    for image in api.get("/1.0/images?recursion=1") or []:
        props = image.get("properties") or {}
        if props.get(IMAGE_PROPERTY) != "true":
            continue
        rows.append(
            Image(
                cloud="lxd",
                id=str(image["fingerprint"])[:12],
                name=",".join(a["name"] for a in image.get("aliases") or []) or "-",
                created=str(image.get("created_at", ""))[:19],
                base=props.get("cmlinfra.base", ""),
                steps=props.get("cmlinfra.steps", ""),
                details={"size_mb": round(int(image.get("size") or 0) / 2**20)},
            )
        )
    return sorted(rows, key=lambda r: r.created)


@dataclass
class LxdImages:
    """:class:`~cmlinfra.clouds.base.ImageStore` on the local daemon."""

    api: LxdApi = field(default_factory=LxdApi)
    cloud: str = "lxd"

    def check_free(self, name: str, *, replace: bool = False) -> None:
        if not replace and alias_target(self.api, name):
            raise UsageError(
                f"LXD image alias {name!r} already exists",
                "choose another --name, or --replace to move the alias to the new image",
            )

    def publish(
        self, instance_id: str, name: str, properties: dict[str, str], *, replace: bool = False
    ) -> str:
        stop(self.api, instance_id)
        return publish(self.api, instance_id, name, properties, replace=replace)

    def list_images(self) -> list[Image]:
        return list_images(self.api)

    def delete(self, image_id: str) -> None:
        """By fingerprint (or its prefix, as listed) or alias; gone already is fine."""
        target = alias_target(self.api, image_id) or image_id
        delete(self.api, target)
