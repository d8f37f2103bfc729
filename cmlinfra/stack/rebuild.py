"""A stack's Terraform configuration rebuilt from data, for destroying it from another machine.

The runner registry (a shared bucket) keeps what a later ``runner destroy`` or ``gc`` needs to
destroy a runner's stack. Whoever can write the bucket must not be able to make that sweeper
run code: a stored ``stack.tf.json`` could hold an ``external`` data source or a
``local-exec`` provisioner, and Terraform would run it with the sweeper's credentials. So only
*data* is read back — the cloud's name and the resolved machine from ``metadata.json`` — and
the configuration is synthesized again here, by that cloud's own ``stack()``, from cmlinfra's
own modules, with every value written literally by the composer. A stored configuration, lock
file or state location is never used: the state is the sweeper's own ``--state``.
"""

from __future__ import annotations

import dataclasses
import io
import json
import tarfile
from typing import Any

from cmlinfra.clouds import available_clouds, get_cloud
from cmlinfra.clouds.base import MachineRequest, ResolvedMachine
from cmlinfra.errors import CmlinfraError
from cmlinfra.stack.store import StackDir

METADATA = "metadata.json"
MAX_METADATA = 1 << 20  # bytes: a record is a few KiB (AWS user-data included)


def _fields(cls: type, data: Any, what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise CmlinfraError(f"the stored {what} is not an object")
    known = {f.name for f in dataclasses.fields(cls)}
    return {key: value for key, value in data.items() if key in known}


def machine_from_dict(data: Any) -> ResolvedMachine:
    """``dataclasses.asdict(machine)`` → the machine (fields this version does not know are
    dropped: a record from a newer cmlinfra still destroys)."""
    values = _fields(ResolvedMachine, data, "machine")
    try:
        values["request"] = MachineRequest(
            **_fields(MachineRequest, values.get("request"), "request")
        )
        if not isinstance(values.get("extra", {}), dict):
            raise TypeError("extra is not an object")
        return ResolvedMachine(**values)
    except TypeError as exc:
        raise CmlinfraError(f"the stored machine is incomplete ({exc})") from None


def read_metadata(blob: bytes, name: str) -> dict[str, Any]:
    """``metadata.json`` out of a stored stack archive, and nothing else from it (an older
    cmlinfra also stored ``stack.tf.json`` and the lock file there: both are ignored)."""
    try:
        with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
            member = tar.getmember(METADATA)
            handle = tar.extractfile(member) if member.isfile() else None
            if handle is None or member.size > MAX_METADATA:
                raise CmlinfraError(f"the stored {METADATA} of {name} is not a small file")
            metadata = json.loads(handle.read())
    except (tarfile.TarError, KeyError, OSError, ValueError) as exc:
        raise CmlinfraError(f"the stored stack of {name} is unreadable ({exc})") from None
    if not isinstance(metadata, dict):
        raise CmlinfraError(f"the stored {METADATA} of {name} is not an object")
    if metadata.get("name") != name:
        raise CmlinfraError(f"the stored stack of {name} names another stack")
    if metadata.get("cloud") not in available_clouds():
        raise CmlinfraError(f"the stored stack of {name} names an unknown cloud")
    return metadata


def rebuild(target: StackDir, metadata: dict[str, Any], state: str) -> None:
    """Write ``target``'s metadata and synthesize its configuration again from ``metadata``'s
    cloud and machine, with the state at ``state`` (the registry the sweeper uses)."""
    from cmlinfra.stack.compose import synthesize
    from cmlinfra.terraform import find_terraform, parse_state_url

    machine = machine_from_dict(metadata.get("machine"))
    if machine.request.name != target.name or machine.cloud != metadata["cloud"]:
        raise CmlinfraError(f"the stored machine of {target.name} is another machine")
    cloud = get_cloud(machine.cloud)
    offline = getattr(cloud, "validate", None)
    if callable(offline):  # the same checks a launch makes: names, labels, sizes, regions
        offline(machine.request)
    binary = find_terraform(None)
    backend = parse_state_url(state, name=target.name)
    target.create()
    spec = cloud.stack(machine, target.ensure_key())  # a fresh key: destroy needs none
    synthesize(spec, target.workdir, backend.block(binary))
    target.write_metadata(
        {
            "name": target.name,
            "cloud": machine.cloud,
            "machine": dataclasses.asdict(machine),
            "created": metadata.get("created"),
            "expires": metadata.get("expires"),
            "terraform": str(binary.path),
            "state": state,
            "backend": backend.describe(),
            "status": "restored",
        }
    )
