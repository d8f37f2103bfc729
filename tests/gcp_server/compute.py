"""The state behind the fake Compute API: zones and what they offer, quotas, images, networks,
instances (with labels, status, guest attributes and serial output) and operations.

Stateful enough for what cmlinfra does before and after Terraform: look-ups, inventory by
label, idempotent delete (also by the instance itself, with curl), host keys, image bake.
Rules that the real API enforces and cmlinfra relies on are enforced here too (a GPU machine
must terminate on host maintenance, an accelerator must be offered in the zone, names are
unique), with the real API's wording.
"""

from __future__ import annotations

import itertools
import re
import time
from dataclasses import dataclass, field
from typing import Any

BASE = "https://www.googleapis.com/compute/v1"
GENERAL = ("e2-", "n1-", "n2-", "g1-small", "custom-")
T4, V100, P100 = "nvidia-tesla-t4", "nvidia-tesla-v100", "nvidia-tesla-p100"
# zone -> accelerators attachable to N1, and machine families with built-in GPUs
ZONES: dict[str, dict[str, Any]] = {
    "us-east1-b": {"gpus": [T4, P100], "families": ["a2-highgpu", "g2"]},
    "us-east1-c": {"gpus": [T4, V100], "families": []},
    "us-east1-d": {"gpus": [T4], "families": ["g2"]},
    "us-west1-a": {"gpus": [T4, V100], "families": ["g2"]},
    "us-west1-b": {"gpus": [T4, V100], "families": ["a2-highgpu", "a3-highgpu"]},
    "us-central1-a": {
        "gpus": [T4, V100],
        "families": ["a2-highgpu", "a2-ultragpu", "a3-highgpu", "g2"],
    },
    "europe-west1-d": {"gpus": [T4, P100], "families": []},
    "europe-north1-a": {"gpus": [], "families": []},
}
BUILTIN = {"g2": "nvidia-l4", "a2-highgpu": "nvidia-tesla-a100",
           "a2-ultragpu": "nvidia-a100-80gb", "a3-highgpu": "nvidia-h100-80gb"}  # fmt: skip


class ApiError(Exception):
    def __init__(self, status: int, message: str, reason: str) -> None:
        super().__init__(message)
        self.status, self.message, self.reason = status, message, reason


def not_found(what: str) -> ApiError:
    return ApiError(404, f"The resource '{what}' was not found", "notFound")


@dataclass
class Compute:
    project: str
    quotas: dict[str, dict[str, tuple[float, float]]] = field(default_factory=dict)
    images: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    networks: set[str] = field(default_factory=lambda: {"default"})
    instances: dict[str, dict[str, Any]] = field(default_factory=dict)  # "zone/name" -> inst
    guest_attributes: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    serial: dict[str, str] = field(default_factory=dict)
    roles: dict[str, list[str]] = field(default_factory=dict)
    operations: dict[str, dict[str, Any]] = field(default_factory=dict)
    _ids: Any = field(default_factory=lambda: itertools.count(1000))

    def __post_init__(self) -> None:
        for region in {z.rsplit("-", 1)[0] for z in ZONES}:
            self.quotas[region] = {"NVIDIA_T4_GPUS": (4, 0), "PREEMPTIBLE_NVIDIA_T4_GPUS": (8, 0),
                                   "NVIDIA_V100_GPUS": (4, 0), "NVIDIA_L4_GPUS": (8, 0),
                                   "NVIDIA_A100_GPUS": (8, 0), "CPUS": (96, 0)}  # fmt: skip
        self.quotas["global"] = {"GPUS_ALL_REGIONS": (16, 0)}
        self.images["ubuntu-os-cloud"] = {}
        for name, fam, created in [
            ("ubuntu-2204-jammy-v20250101", "ubuntu-2204-lts", "2025-01-01T00:00:00.000-08:00"),
            ("ubuntu-2204-jammy-v20250601", "ubuntu-2204-lts", "2025-06-01T00:00:00.000-08:00"),
            ("ubuntu-2404-noble-amd64-v20250601", "ubuntu-2404-lts-amd64",
             "2025-06-01T00:00:00.000-08:00"),
        ]:  # fmt: skip
            self.add_image("ubuntu-os-cloud", name, fam, created)

    # -- helpers the tests use --------------------------------------------------------------

    def add_image(self, project: str, name: str, family: str, created: str = "") -> dict[str, Any]:
        image = {"kind": "compute#image", "id": str(next(self._ids)), "name": name,
                 "family": family, "status": "READY", "archiveSizeBytes": "1000000",
                 "diskSizeGb": "10", "creationTimestamp": created or _now(),
                 "selfLink": f"{BASE}/projects/{project}/global/images/{name}"}  # fmt: skip
        self.images.setdefault(project, {})[name] = image
        return image

    def set_host_keys(self, zone: str, name: str, keys: dict[str, str]) -> None:
        """What the guest agent publishes: ``hostkeys/<type>`` = base64 blob."""
        self.guest_attributes[f"{zone}/{name}"] = [
            {"namespace": "hostkeys", "key": k, "value": v} for k, v in keys.items()
        ]

    # -- dispatch ---------------------------------------------------------------------------

    def handle(self, method: str, p: dict[str, str], q: dict[str, str], body: Any) -> Any:
        handler = getattr(self, "_" + method.split(".", 1)[1].replace(".", "_"), None)
        if handler is None:
            raise ApiError(501, f"{method} is not implemented by the fake", "notImplemented")
        if "project" in p and p["project"] != self.project and "images" not in method:
            raise ApiError(403, f"Permission denied on project {p['project']}", "forbidden")
        return handler(p, q, body)

    def _zone(self, zone: str) -> dict[str, Any]:
        if zone not in ZONES:
            raise not_found(f"projects/{self.project}/zones/{zone}")
        region = zone.rsplit("-", 1)[0]
        return {"kind": "compute#zone", "id": str(abs(hash(zone)) % 10**6), "name": zone,
                "status": "UP", "region": f"{BASE}/projects/{self.project}/regions/{region}",
                "selfLink": f"{BASE}/projects/{self.project}/zones/{zone}"}  # fmt: skip

    def _zones_get(self, p: dict, q: dict, body: Any) -> Any:
        return self._zone(p["zone"])

    def _zones_list(self, p: dict, q: dict, body: Any) -> Any:
        items = [self._zone(z) for z in sorted(ZONES)]
        return {"kind": "compute#zoneList", "items": items[: int(q.get("maxResults", 500))]}

    def _regions_get(self, p: dict, q: dict, body: Any) -> Any:
        region = p["region"]
        zones = [z for z in sorted(ZONES) if z.rsplit("-", 1)[0] == region]
        if not zones:
            raise not_found(f"projects/{self.project}/regions/{region}")
        return {"kind": "compute#region", "name": region, "status": "UP",
                "zones": [f"{BASE}/projects/{self.project}/zones/{z}" for z in zones],
                "quotas": _quotas(self.quotas[region])}  # fmt: skip

    def _projects_get(self, p: dict, q: dict, body: Any) -> Any:
        return {"kind": "compute#project", "name": self.project, "id": "4242",
                "quotas": _quotas(self.quotas["global"])}  # fmt: skip

    # machine types and accelerators

    def machine_type(self, zone: str, name: str) -> dict[str, Any] | None:
        offer = ZONES[zone]
        fam = next((f for f in offer["families"] if name.startswith(f"{f}-")), None)
        general = name.startswith(GENERAL) and not name.startswith(("g2-", "a2-", "a3-"))
        if fam is None and not general:
            return None
        cpus, memory = _shape(name)
        item: dict[str, Any] = {"kind": "compute#machineType", "id": str(abs(hash(name)) % 10**6),
                                "name": name, "guestCpus": cpus, "memoryMb": memory, "zone": zone,
                                "isSharedCpu": name == "g1-small",
                                "selfLink": f"{BASE}/projects/{self.project}/zones/{zone}"
                                            f"/machineTypes/{name}"}  # fmt: skip
        if fam:
            count = int(m.group(1)) if (m := re.search(r"-(\d+)g$", name)) else 1
            if fam == "g2":
                count = {24: 2, 48: 4, 96: 8}.get(cpus, 1)
            item["accelerators"] = [{"guestAcceleratorType": BUILTIN[fam],
                                     "guestAcceleratorCount": count}]  # fmt: skip
        return item

    def _machineTypes_get(self, p: dict, q: dict, body: Any) -> Any:
        self._zone(p["zone"])
        found = self.machine_type(p["zone"], p["machineType"])
        if found is None:
            raise not_found(f"projects/{self.project}/zones/{p['zone']}/machineTypes/"
                            f"{p['machineType']}")  # fmt: skip
        return found

    def _machineTypes_aggregatedList(self, p: dict, q: dict, body: Any) -> Any:
        wanted = _filter_name(q.get("filter", ""))
        items = {}
        for zone in sorted(ZONES):
            found = self.machine_type(zone, wanted) if wanted else None
            if found:
                items[f"zones/{zone}"] = {"machineTypes": [found]}
        return {"kind": "compute#machineTypeAggregatedList", "items": items}

    def accelerator(self, zone: str, name: str) -> dict[str, Any]:
        return {"kind": "compute#acceleratorType", "name": name, "zone": zone,
                "maximumCardsPerInstance": 8, "description": name,
                "selfLink": f"{BASE}/projects/{self.project}/zones/{zone}"
                            f"/acceleratorTypes/{name}"}  # fmt: skip

    def _acceleratorTypes_aggregatedList(self, p: dict, q: dict, body: Any) -> Any:
        wanted = _filter_name(q.get("filter", ""))
        items = {}
        for zone, offer in sorted(ZONES.items()):
            names = list(offer["gpus"]) + [BUILTIN[f] for f in offer["families"]]
            found = [self.accelerator(zone, n) for n in names if not wanted or n == wanted]
            if found:
                items[f"zones/{zone}"] = {"acceleratorTypes": found}
        return {"kind": "compute#acceleratorTypeAggregatedList", "items": items}

    # images

    def _images_getFromFamily(self, p: dict, q: dict, body: Any) -> Any:
        images = [i for i in self.images.get(p["project"], {}).values()
                  if i.get("family") == p["family"] and "deprecated" not in i]  # fmt: skip
        if not images:
            raise not_found(f"projects/{p['project']}/global/images/family/{p['family']}")
        return max(images, key=lambda i: i["creationTimestamp"])

    def _images_get(self, p: dict, q: dict, body: Any) -> Any:
        image = self.images.get(p["project"], {}).get(p["image"])
        if image is None:
            raise not_found(f"projects/{p['project']}/global/images/{p['image']}")
        return image

    def _images_list(self, p: dict, q: dict, body: Any) -> Any:
        items = sorted(self.images.get(p["project"], {}).values(), key=lambda i: i["name"])
        items = [i for i in items if _matches(i, q.get("filter", ""))]
        return {"kind": "compute#imageList", "items": items}

    def _images_insert(self, p: dict, q: dict, body: Any) -> Any:
        if body["name"] in self.images.get(p["project"], {}):
            raise ApiError(409, f"The resource 'projects/{p['project']}/global/images/"
                                f"{body['name']}' already exists", "alreadyExists")  # fmt: skip
        image = self.add_image(p["project"], body["name"], body.get("family", ""))
        image["labels"] = body.get("labels", {})
        image["description"] = body.get("description", "")
        image["sourceDisk"] = body.get("sourceDisk", "")
        return self._operation("insert", image["selfLink"], None)

    def _images_delete(self, p: dict, q: dict, body: Any) -> Any:
        image = self._images_get(p, q, body)
        del self.images[p["project"]][p["image"]]
        return self._operation("delete", image["selfLink"], None)

    # networks

    def _networks_get(self, p: dict, q: dict, body: Any) -> Any:
        if p["network"] not in self.networks:
            raise not_found(f"projects/{self.project}/global/networks/{p['network']}")
        return {
            "kind": "compute#network",
            "name": p["network"],
            "autoCreateSubnetworks": True,
            "selfLink": f"{BASE}/projects/{self.project}/global/networks/{p['network']}",
        }

    # instances

    def _key(self, p: dict) -> str:
        self._zone(p["zone"])
        return f"{p['zone']}/{p['instance']}"

    def _instance(self, p: dict) -> dict[str, Any]:
        inst = self.instances.get(self._key(p))
        if inst is None:
            raise not_found(f"projects/{self.project}/zones/{p['zone']}/instances/"
                            f"{p['instance']}")  # fmt: skip
        return inst

    def _instances_insert(self, p: dict, q: dict, body: Any) -> Any:
        zone = p["zone"]
        self._zone(zone)
        key = f"{zone}/{body['name']}"
        if key in self.instances:
            raise ApiError(409, f"The resource 'projects/{self.project}/zones/{zone}/instances/"
                                f"{body['name']}' already exists", "alreadyExists")  # fmt: skip
        machine = body["machineType"].rsplit("/", 1)[-1]
        mt = self.machine_type(zone, machine)
        if mt is None:
            raise ApiError(400, f"Invalid value for field 'resource.machineType': "
                                f"'{body['machineType']}'. Machine type with name '{machine}' "
                                f"does not exist in zone '{zone}'.", "invalid")  # fmt: skip
        gpus = body.get("guestAccelerators", []) + mt.get("accelerators", [])
        for accel in body.get("guestAccelerators", []):
            name = accel["acceleratorType"].rsplit("/", 1)[-1]
            if name not in ZONES[zone]["gpus"]:
                raise ApiError(400, f"Invalid value for field 'resource.guestAccelerators[0]."
                                    f"acceleratorType': '{name}'. Accelerator type '{name}' "
                                    f"does not exist in zone {zone}.", "invalid")  # fmt: skip
        scheduling = body.get("scheduling", {})
        if gpus and scheduling.get("onHostMaintenance", "MIGRATE") != "TERMINATE":
            raise ApiError(400, "Instances with guest accelerators do not support live "
                                "migration.", "badRequest")  # fmt: skip
        disks = [
            {**d, "source": d.get("source") or f"{BASE}/projects/{self.project}/zones/{zone}/"
                                               f"disks/{body['name']}-{i}"}
            for i, d in enumerate(body.get("disks", []))
        ]  # fmt: skip
        inst = {**body, "disks": disks, "kind": "compute#instance", "id": str(next(self._ids)),
                "status": "RUNNING", "zone": f"{BASE}/projects/{self.project}/zones/{zone}",
                "creationTimestamp": _now(),
                "selfLink": f"{BASE}/projects/{self.project}/zones/{zone}/instances/"
                            f"{body['name']}"}  # fmt: skip
        self.instances[key] = inst
        return self._operation("insert", inst["selfLink"], zone)

    def _instances_get(self, p: dict, q: dict, body: Any) -> Any:
        return self._instance(p)

    def _instances_delete(self, p: dict, q: dict, body: Any) -> Any:
        inst = self._instance(p)
        del self.instances[self._key(p)]
        return self._operation("delete", inst["selfLink"], p["zone"])

    def _instances_stop(self, p: dict, q: dict, body: Any) -> Any:
        inst = self._instance(p)
        inst["status"] = "TERMINATED"
        return self._operation("stop", inst["selfLink"], p["zone"])

    def _instances_list(self, p: dict, q: dict, body: Any) -> Any:
        items = [i for k, i in sorted(self.instances.items()) if k.startswith(f"{p['zone']}/")]
        items = [i for i in items if _matches(i, q.get("filter", ""))]
        return {"kind": "compute#instanceList", "items": items}

    def _instances_aggregatedList(self, p: dict, q: dict, body: Any) -> Any:
        items: dict[str, Any] = {}
        for key, inst in sorted(self.instances.items()):
            if _matches(inst, q.get("filter", "")):
                scope = items.setdefault(f"zones/{key.split('/')[0]}", {"instances": []})
                scope["instances"].append(inst)
        return {"kind": "compute#instanceAggregatedList", "items": items}

    def _instances_getGuestAttributes(self, p: dict, q: dict, body: Any) -> Any:
        self._instance(p)
        path = q.get("queryPath", "")
        items = [i for i in self.guest_attributes.get(self._key(p), [])
                 if f"{i['namespace']}/{i['key']}".startswith(path)]  # fmt: skip
        if not items:
            raise not_found(f"projects/{self.project}/zones/{p['zone']}/instances/"
                            f"{p['instance']}/guestAttributes/{path}")  # fmt: skip
        return {"kind": "compute#guestAttributes", "queryPath": path,
                "queryValue": {"items": items}}  # fmt: skip

    def _instances_getSerialPortOutput(self, p: dict, q: dict, body: Any) -> Any:
        inst = self._instance(p)
        text = self.serial.get(self._key(p), "")
        return {
            "kind": "compute#serialPortOutput",
            "contents": text,
            "start": "0",
            "next": str(len(text)),
            "selfLink": inst["selfLink"] + "/serialPort",
        }

    # operations

    def _operation(self, kind: str, target: str, zone: str | None) -> dict[str, Any]:
        op_id = next(self._ids)
        op = {"kind": "compute#operation", "id": str(op_id), "name": f"operation-{op_id}",
              "operationType": kind, "targetLink": target, "status": "DONE", "progress": 100,
              "insertTime": _now(), "endTime": _now(),
              "selfLink": f"{BASE}/projects/{self.project}/"
                          + (f"zones/{zone}/" if zone else "global/")
                          + f"operations/operation-{op_id}"}  # fmt: skip
        if zone:
            op["zone"] = f"{BASE}/projects/{self.project}/zones/{zone}"
        self.operations[op["name"]] = op
        return op

    def _get_operation(self, p: dict, q: dict, body: Any) -> Any:
        op = self.operations.get(p["operation"])
        if op is None:
            raise not_found(f"projects/{self.project}/operations/{p['operation']}")
        return op

    _zoneOperations_get = _zoneOperations_wait = _get_operation
    _globalOperations_get = _globalOperations_wait = _get_operation

    # IAM v1

    def _projects_roles_get(self, p: dict, q: dict, body: Any) -> Any:
        name = p["name"]
        if name not in self.roles:
            raise not_found(name)
        return {
            "name": name,
            "title": "cmlinfra self-delete",
            "stage": "GA",
            "etag": "BwX=",
            "includedPermissions": self.roles[name],
        }


def _quotas(table: dict[str, tuple[float, float]]) -> list[dict[str, Any]]:
    return [{"metric": m, "limit": lim, "usage": use} for m, (lim, use) in sorted(table.items())]


def _shape(name: str) -> tuple[int, int]:
    if m := re.match(r"^(?:\w+-)?custom-(\d+)-(\d+)", name):
        return int(m.group(1)), int(m.group(2))
    if name == "g1-small":
        return 1, 1740
    per = {"a2-highgpu": (12, 87040), "a2-ultragpu": (12, 174080), "a3-highgpu": (26, 239616)}
    if m := re.search(r"-(\d+)g?$", name):
        n = int(m.group(1))
        fam = next((f for f in per if name.startswith(f)), None)
        if fam:
            return n * per[fam][0], n * per[fam][1]
        return n, n * (3840 if name.startswith("n1-") else 4096)
    return 2, 8192


def _filter_name(text: str) -> str:
    m = re.search(r'name\s*(?:=|eq)\s*"?([\w.-]+)"?', text)
    return m.group(1) if m else ""


def _matches(inst: dict[str, Any], text: str) -> bool:
    """The Compute filter forms cmlinfra sends: ``labels.KEY:*``, ``labels.KEY = "V"``,
    ``status = "X"``, joined by AND."""
    for clause in [c.strip() for c in re.split(r"\s+AND\s+", text) if c.strip()]:
        if m := re.fullmatch(r"\(?labels\.([\w-]+):\*\)?", clause):
            if m.group(1) not in inst.get("labels", {}):
                return False
        elif m := re.fullmatch(r'\(?labels\.([\w-]+)\s*=\s*"([^"]*)"\)?', clause):
            if inst.get("labels", {}).get(m.group(1)) != m.group(2):
                return False
        elif m := re.fullmatch(r'\(?name\s*=\s*"?([\w-]+)"?\)?', clause):
            if inst.get("name") != m.group(1):
                return False
        elif m := re.fullmatch(r'\(?status\s*=\s*"?(\w+)"?\)?', clause):
            if inst.get("status") != m.group(1):
                return False
        else:
            raise ApiError(400, f"Invalid value for field 'filter': '{text}'.", "invalid")
    return True


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000-00:00", time.gmtime())
