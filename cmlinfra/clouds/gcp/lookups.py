"""Compute API look-ups before Terraform runs: credentials and project, zones, where a machine
type or GPU is offered, GPU quota, the image, the network.

Done with Google's own client (google-api-python-client, built from the compute v1 discovery
document it ships, so no network is needed to build it; imported lazily so ``--help`` stays
fast) rather than Terraform data sources: each answer decides the plan, and a GPU not offered in
the zone or an exhausted quota is a one-line error naming the fix before anything exists.
Credentials come from Application Default Credentials: ``GOOGLE_APPLICATION_CREDENTIALS`` (a
service account key or a workload identity federation configuration), gcloud's ADC, or the
metadata server. ``CMLINFRA_GCP_ENDPOINT`` points the client elsewhere (the tests' fake).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cache
from typing import Any

from cmlinfra.clouds.gcp.credentials import credentials_from_data, project_from, settle_project
from cmlinfra.clouds.gcp.errors import gcp_errors, not_found, unknown_zone
from cmlinfra.errors import CmlinfraError, UsageError

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
SELF_DELETE_ROLE = "cmlinfraSelfDelete"


@dataclass
class Session:
    """Credentials, the project they act in, and a Compute client using them."""

    credentials: Any
    project: str
    compute: Any

    def iam(self) -> Any:
        return _build("iam", self.credentials)


@cache
def _document(api: str) -> dict[str, Any]:
    """The discovery document the client ships (parsed once: compute's is 5 MB)."""
    from googleapiclient.discovery_cache import get_static_doc

    text = get_static_doc(api, "v1")
    if text is None:
        raise CmlinfraError(f"google-api-python-client lacks the {api} v1 description",
                            "reinstall cmlinfra[gcp]")  # fmt: skip
    return json.loads(text)


def _build(api: str, credentials: Any) -> Any:
    """A client for ``api`` v1 built from the shipped description: no network needed."""
    from googleapiclient.discovery import build_from_document

    return build_from_document(
        _document(api), http=_http(credentials), client_options=_options(api)
    )


def _http(credentials: Any) -> Any:
    """An authorized HTTP transport that gives up on a dead endpoint within seconds."""
    import google_auth_httplib2
    import httplib2

    return google_auth_httplib2.AuthorizedHttp(credentials, http=httplib2.Http(timeout=20))


def _options(api: str) -> dict[str, str]:
    """``client_options``: Google's endpoint, or ``$CMLINFRA_GCP_ENDPOINT`` for every API."""
    override = os.environ.get("CMLINFRA_GCP_ENDPOINT")
    if not override:
        return {}
    path = {"compute": "compute/v1/", "iam": ""}[api]
    return {"api_endpoint": f"{override.rstrip('/')}/{path}"}


def session() -> Session:
    """Credentials (ADC) and the project, checked to be usable; one-line errors otherwise."""
    import google.auth

    credentials_from_data()
    settle_project()
    with gcp_errors("loading the credentials"):
        credentials, found = google.auth.default(scopes=list(SCOPES))
    project = project_from(credentials, found)
    if not project:
        raise UsageError(
            "no Google Cloud project",
            "set GOOGLE_CLOUD_PROJECT (or CLOUDSDK_CORE_PROJECT) to the project to launch in",
        )
    return Session(credentials, project, _build("compute", credentials))


def check_reachable(s: Session) -> None:
    """One cheap authenticated call, so bad credentials or a disabled API fail up front."""
    with gcp_errors("checking the Compute API", s.project):
        s.compute.zones().list(project=s.project, maxResults=1).execute()


def region_zones(s: Session, region: str) -> list[str]:
    """The zones of a region (sorted); a one-line error when the region does not exist."""
    try:
        with gcp_errors(f"looking up region {region}", s.project):
            info = s.compute.regions().get(project=s.project, region=region).execute()
    except CmlinfraError as exc:
        if not_found(exc):
            raise UsageError(
                f"region {region} does not exist (or is not visible to this project)",
                "check --cloud-region (e.g. us-central1, europe-west4, or a zone)",
            ) from None
        raise
    return sorted(z.rsplit("/", 1)[-1] for z in info.get("zones", []))


def check_zone(s: Session, region: str, zone: str) -> None:
    """The zone exists and is up."""
    try:
        with gcp_errors(f"looking up zone {zone}", s.project):
            info = s.compute.zones().get(project=s.project, zone=zone).execute()
    except CmlinfraError as exc:
        if not_found(exc):
            raise unknown_zone(zone, region_zones(s, region)) from None
        raise
    if info.get("status") != "UP":
        raise UsageError(f"zone {zone} is {info.get('status')}", "choose another zone")


def _aggregated_zones(s: Session, resource: str, name: str, what: str) -> list[str]:
    """Zones whose ``acceleratorTypes``/``machineTypes`` list has ``name`` (sorted)."""
    listing = getattr(s.compute, resource)()
    request = listing.aggregatedList(project=s.project, filter=f'name = "{name}"')
    zones: set[str] = set()
    with gcp_errors(what, s.project):
        while request is not None:
            page = request.execute()
            for scope, entry in page.get("items", {}).items():
                if any(item.get("name") == name for item in entry.get(resource, [])):
                    zones.add(scope.rsplit("/", 1)[-1])
            request = listing.aggregatedList_next(request, page)
    return sorted(zones)


def offering_zones(s: Session, machine_type: str, accelerator: str | None) -> list[str]:
    """Zones offering the machine type and (when attached) the accelerator."""
    zones = _aggregated_zones(
        s, "machineTypes", machine_type, f"checking where {machine_type} is offered"
    )
    if accelerator:
        gpus = _aggregated_zones(
            s, "acceleratorTypes", accelerator, f"checking where {accelerator} is offered"
        )
        zones = sorted(set(zones) & set(gpus))
    return zones


def machine_type(s: Session, zone: str, name: str) -> dict[str, Any]:
    """vCPUs, memory and built-in GPUs of a machine type in a zone."""
    with gcp_errors(f"describing {name}", s.project):
        call = s.compute.machineTypes().get(project=s.project, zone=zone, machineType=name)
        info = call.execute()
    accelerators = info.get("accelerators") or []
    return {
        "vcpus": int(info.get("guestCpus", 0)) or None,
        "memory_gib": int(info.get("memoryMb", 0)) / 1024 or None,
        "gpu": accelerators[0]["guestAcceleratorType"] if accelerators else None,
        "gpu_count": sum(int(a.get("guestAcceleratorCount", 0)) for a in accelerators),
    }


def quota_left(s: Session, region: str, metric: str) -> tuple[float, float] | None:
    """(limit, usage) of a regional quota metric; None when the region does not report it."""
    with gcp_errors(f"reading the {metric} quota", s.project):
        info = s.compute.regions().get(project=s.project, region=region).execute()
    for quota in info.get("quotas", []):
        if quota.get("metric") == metric:
            return float(quota.get("limit", 0)), float(quota.get("usage", 0))
    return None


def project_quota(s: Session, metric: str) -> tuple[float, float] | None:
    with gcp_errors(f"reading the {metric} quota", s.project):
        info = s.compute.projects().get(project=s.project).execute()
    for quota in info.get("quotas", []):
        if quota.get("metric") == metric:
            return float(quota.get("limit", 0)), float(quota.get("usage", 0))
    return None


def image(s: Session, project: str, name: str | None, family: str | None) -> dict[str, Any]:
    """An image by name, or the newest of a family; a one-line error when there is none."""
    what = f"{project}/{family or name}"
    try:
        with gcp_errors(f"looking up the image {what}", s.project):
            images = s.compute.images()
            call = (
                images.getFromFamily(project=project, family=family)
                if family
                else images.get(project=project, image=name)
            )
            found: dict[str, Any] = call.execute()
    except CmlinfraError as exc:
        if not_found(exc):
            raise UsageError(
                f"no image {'family ' if family else ''}{what!r} visible to project {s.project}",
                "check --cloud-image (ubuntu-22.04, ubuntu-24.04, cmlinfra, PROJECT/FAMILY or "
                "projects/PROJECT/global/images/NAME; run 'cmlinfra image bake --cloud gcp' "
                "for cmlinfra)",
            ) from None
        raise
    if found.get("status") not in (None, "READY"):
        raise UsageError(f"image {what} is {found.get('status')}", "wait, or choose another")
    return found


def network_exists(s: Session, network: str) -> bool:
    try:
        with gcp_errors(f"looking up network {network}", s.project):
            s.compute.networks().get(project=s.project, network=network).execute()
    except CmlinfraError as exc:
        if not_found(exc):
            return False
        raise
    return True


def subnetwork(s: Session, region: str, name: str, source: str) -> dict[str, Any]:
    try:
        with gcp_errors(f"looking up subnetwork {name}", s.project):
            found: dict[str, Any] = (
                s.compute.subnetworks()
                .get(project=s.project, region=region, subnetwork=name)
                .execute()
            )
    except CmlinfraError as exc:
        if not_found(exc):
            raise UsageError(
                f"subnetwork {name} does not exist in {region}",
                f"check {source}, or leave it out to use the network's own",
            ) from None
        raise
    return found


def self_delete_role(s: Session) -> str | None:
    """The custom role the runner's self-delete is granted through, when the project has it;
    None when it does not or the launcher may not read roles (docs/gcp.md: create it once)."""
    name = f"projects/{s.project}/roles/{SELF_DELETE_ROLE}"
    try:
        with gcp_errors("looking up the self-delete role", s.project):
            role = s.iam().projects().roles().get(name=name).execute()
    except CmlinfraError:
        return None
    if role.get("deleted") or "compute.instances.delete" not in role.get("includedPermissions", []):
        return None
    return name
