"""The Google Cloud harness: the Compute API is the local fake (tests/gcp_server), every request
and response validated against the compute v1 discovery document; machines are planted with
``instances.insert`` through Google's own client, carrying the labels the gpu-runner module
sets. No Google provider binary exists here, so the stack is checked against the modules'
interfaces (tests/clouds/gcp/ checks them against the provider schema).

The error texts are Google's, as users met them through Terraform's Google provider, gcloud and
the client libraries (each source a public issue quoting the message), and cmlinfra's own
refusals of the same conditions."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from cmlinfra.clouds.base import ErrorKind, MachineRequest, SweepScope
from cmlinfra.clouds.gcp.options import NETWORK
from cmlinfra.clouds.gcp.tags import EXPIRES_LABEL, ROLE_LABEL, STACK_LABEL
from tests.clouds.contract.kit import ErrorSample, Harness
from tests.fixtures.gcp import GcpApi
from tests.fixtures.moto import free_port

GH = "https://github.com"
ZONE = "us-west1-b"

ERRORS = [
    ErrorSample(
        "ZONE_RESOURCE_POOL_EXHAUSTED: The zone 'projects/fontbakery-168509/zones/us-central1-a'"
        " does not have enough resources available to fulfill the request. Try a different "
        "zone, or try again later.",
        ErrorKind.CAPACITY,
        f"{GH}/googlefonts/fontbakery-dashboard/issues/81 (Compute operation error)",
    ),
    ErrorSample(
        "Error: Error waiting for instance to create: The zone 'projects/[project-id]/zones/"
        "us-west1-c' does not have enough resources available to fulfill the request.  Try a "
        "different zone, or try again later",
        ErrorKind.CAPACITY,
        f"{GH}/forseti-security/terraform-google-forseti/issues/631 (terraform-provider-google)",
    ),
    ErrorSample(
        "code: ZONE_RESOURCE_POOL_EXHAUSTED_WITH_DETAILS\n  message: A n1-standard-4 VM "
        "instance with 1 nvidia-tesla-t4 accelerator(s) is currently unavailable in the "
        "us-central1-b zone. Consider trying your request in the us-central1-a, us-central1-f "
        "zone(s), which currently has capacity to accommodate your request.",
        ErrorKind.CAPACITY,
        f"{GH}/kubernetes/k8s.io/issues/9834 (gcloud, 2026)",
    ),
    ErrorSample(
        "ERROR: (gcloud.compute.instances.create) Could not fetch resource:\n - Quota "
        "'GPUS_ALL_REGIONS' exceeded. Limit: 0.0 globally.",
        ErrorKind.QUOTA,
        f"{GH}/fastai/course-v3/pull/165 (gcloud)",
    ),
    ErrorSample(
        "Error: error creating NodePool: googleapi: Error 403: (1) insufficient regional quota "
        "to satisfy request: resource \"CPUS\": request requires '72.0' and is short '48.0'. "
        "project has a quota of '24.0' with '24.0' available., forbidden",
        ErrorKind.QUOTA,
        f"{GH}/kaiwaehner/hivemq-mqtt-tensorflow-kafka-realtime-iot-machine-learning-training-"
        "inference/issues/48 (terraform-provider-google)",
    ),
    ErrorSample(
        "GPU quota exhausted: NVIDIA_T4_GPUS in us-west1 allows 1, 1 in use, 1 more needed; "
        "request more in the console (IAM & Admin > Quotas) or choose another --cloud-region",
        ErrorKind.QUOTA,
        "cmlinfra/clouds/gcp/cloud.py _quota(), tests/clouds/gcp/test_cloud.py",
    ),
    ErrorSample(
        "Error: Error loading zone 'us-east1-c': googleapi: Error 403: Required "
        "'compute.zones.get' permission for 'projects/itcloud-304805/zones/us-east1-c', forbidden",
        ErrorKind.AUTH,
        f"{GH}/hashicorp/terraform-provider-google/issues/8638 (terraform-provider-google)",
    ),
    ErrorSample(
        "the Compute Engine API is not enabled in project cml-test; enable it: gcloud services "
        "enable compute.googleapis.com --project cml-test",
        ErrorKind.AUTH,
        "cmlinfra/clouds/gcp/errors.py gcp_errors() on a 403 accessNotConfigured "
        "(tests/clouds/gcp/test_cloud.py)",
    ),
    ErrorSample(
        "no Google Cloud credentials found; run 'gcloud auth application-default login', set "
        "GOOGLE_APPLICATION_CREDENTIALS, or authenticate the CI job with workload identity "
        "federation",
        ErrorKind.AUTH,
        "cmlinfra/clouds/gcp/errors.py on google.auth's DefaultCredentialsError",
    ),
    ErrorSample(
        "a2-highgpu-1g is not offered in zone us-east1-c; use --cloud-region us-east1-b, which "
        "offers it",
        ErrorKind.CAPACITY,
        "cmlinfra/clouds/gcp/cloud.py _zone() (tests/clouds/gcp/test_cloud.py)",
    ),
    ErrorSample(
        "Google Cloud error while listing cmlinfra's instances: 503 backendError: Internal "
        "error. Please try again.",
        ErrorKind.TRANSIENT,
        "cmlinfra/clouds/gcp/errors.py gcp_errors() wording of Google's backendError reason",
    ),
    ErrorSample(
        "cannot reach the Google Compute API at http://127.0.0.1:1 while checking the Compute "
        "API (ConnectionRefusedError); check the network and proxy, or unset "
        "CMLINFRA_GCP_ENDPOINT if it points nowhere",
        ErrorKind.TRANSIENT,
        "tests/clouds/gcp/test_cloud.py test_unreachable_endpoint",
    ),
    ErrorSample(
        'Error: Unsupported argument\n  on main.tf line 6, in module "runner":\n   6:   '
        'gpu_typ = "nvidia-tesla-t4"\nAn argument named "gpu_typ" is not expected here.',
        ErrorKind.BAD_REQUEST,
        "terraform 1.11.4 validate here, 2026-12-04, on a misspelt module argument",
    ),
]


@pytest.fixture(scope="module")
def gcp_harness(gcp_server: GcpApi) -> Iterator[Harness]:
    prefix = f"cmlc-{secrets.token_hex(2)}-"

    def insert(name: str, labels: dict[str, str]) -> str:
        from cmlinfra.clouds.gcp import lookups

        s = lookups.session()
        body: dict[str, Any] = {
            "name": name,
            "machineType": f"zones/{ZONE}/machineTypes/n1-standard-4",
            "labels": labels,
            "disks": [{"boot": True, "autoDelete": True, "initializeParams": {
                "sourceImage": "projects/ubuntu-os-cloud/global/images/family/ubuntu-2204-lts"}}],
            "networkInterfaces": [{"network": "global/networks/default"}],
        }  # fmt: skip
        s.compute.instances().insert(project=s.project, zone=ZONE, body=body).execute()
        return f"{ZONE}/{name}"

    def plant(stack: str, role: str, expires: float | None) -> str:
        labels = {STACK_LABEL: stack, ROLE_LABEL: role}
        if expires is not None:
            labels[EXPIRES_LABEL] = str(int(expires))
        return insert(stack, labels)

    def plant_image(name: str) -> str:
        from cmlinfra.clouds.gcp.images import GcpImages

        builder = plant(f"{prefix}img-{secrets.token_hex(2)}", "image-builder", None)
        return GcpImages().publish(builder.split("/")[1], name, {"cmlinfra.steps": "docker"})

    def address_case() -> tuple[dict[str, object], tuple[str, ...]]:
        """The guest agent published an ed25519 key: address() reads it through the API."""
        name = f"{prefix}addr"
        insert(name, {STACK_LABEL: name, ROLE_LABEL: "stack"})
        gcp_server.compute.set_host_keys(ZONE, name, {"ssh-ed25519": "AAAAC3NzaC1lZDI1NTE5AAAA"})
        outputs = {"address": "203.0.113.10", "instance_id": name, "project": "cml-test",
                   "zone": ZONE, "ssh_user": "ubuntu", "ssh_port": 22}  # fmt: skip
        return outputs, ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA",)

    def request(**kw: object) -> MachineRequest:
        base = {"name": f"{prefix}render", "cloud_type": "m+t4", "region": "us-west"}
        return MachineRequest(**{**base, "ssh_cidr": "203.0.113.9/32", **kw})  # type: ignore[arg-type]

    yield Harness(
        cloud="gcp",
        prefix=prefix,
        request=request(),
        bad=[
            (request(hdd_size_gb=2), "--cloud-hdd-size 2 is out of range"),
            (request(region="mars"), "--cloud-region 'mars' is not a Google Cloud region"),
            (request(cloud_type="e2-standard-8", gpu="t4"), "cannot take attached GPUs"),
            (request(options={NETWORK.flag: "Bad_Net"}), "--cloud-gcp-network 'Bad_Net' is not"),
            (request(spot=True, spot_price=0.3), "Spot VMs have no bid"),
        ],
        # Every user value reaches the GCP stack validated or folded to the label alphabet
        # ([a-z0-9_-]): a template cannot get through, so this probe never arrives either.
        inject=lambda text: request(name=f"{prefix}inject", metadata={"note": text}),
        errors=ERRORS,
        plant=plant,
        scope=SweepScope(),
        plant_image=plant_image,
        terraform_validates=False,  # no Google provider binary here
        address_case=address_case,
        env={**gcp_server.env, "CMLINFRA_GCP_HOST_KEY_WAIT": "0"},
        down={"CMLINFRA_GCP_ENDPOINT": f"http://127.0.0.1:{free_port()}"},
    )
    assert gcp_server.server.invalid == [], gcp_server.server.invalid
