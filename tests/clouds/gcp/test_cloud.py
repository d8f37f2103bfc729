"""GcpCloud up to Terraform against the local Compute fake: resolve() with every look-up, the
StackSpec checked against the modules' own variables/outputs and the provider schema, address()
with host keys from guest attributes or the serial port, and each bad input as one line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cmlinfra.clouds.base import Cloud, MachineRequest, Ref
from cmlinfra.clouds.gcp import make_cloud
from cmlinfra.clouds.gcp.cloud import GcpCloud
from cmlinfra.errors import CmlinfraError, UsageError
from tests.clouds.aws.test_cloud import module_interface
from tests.clouds.echo import EchoServer
from tests.clouds.hclschema import load_snapshot, provider_block_problems
from tests.fixtures.gcp import GcpApi

PUBKEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKeyKeyKeyKeyKeyKeyKeyKeyKeyKeyKeyKeyKeyKeyK cml"
ROLE = "projects/cml-test/roles/cmlinfraSelfDelete"


@pytest.fixture
def cloud(echo_ip: EchoServer) -> GcpCloud:
    return GcpCloud(public_ip_url=echo_ip.url, host_key_wait_s=0)


def request(**kw: Any) -> MachineRequest:
    return MachineRequest(**{"name": "cml-t1", "cloud_type": "m+t4", **kw})


def test_registry_factory_gives_a_cloud() -> None:
    cloud = make_cloud()
    assert isinstance(cloud, Cloud) and cloud.name == "gcp"


def test_resolve_a_t4_runner(gcp: GcpApi, cloud: GcpCloud, echo_ip: EchoServer) -> None:
    gcp.compute.roles[ROLE] = ["compute.instances.delete"]
    machine = cloud.resolve(request(metadata={"team": "ml"}, hdd_size_gb=100))
    assert (machine.instance_type, machine.region) == ("n1-standard-4", "us-west1")
    extra = machine.extra
    assert extra["zone"] == "us-west1-b"  # CML's us-west is TPI's zone
    assert (machine.gpu, machine.gpu_count, extra["accelerator"]) == ("t4", 1, "nvidia-tesla-t4")
    assert machine.hourly_price == pytest.approx(0.539999)
    assert machine.image.endswith(
        "/projects/ubuntu-os-cloud/global/images/ubuntu-2204-jammy-v20250601"
    )  # newest of the family
    assert extra["ssh_cidr"] == "203.0.113.9/32" and echo_ip.requests == 1
    assert extra["self_delete_role"] == ROLE and extra["project"] == "cml-test"
    assert extra["labels"] == {"team": "ml"} and extra["hdd_size_gb"] == 100
    assert extra["create_network"] is False and extra["network"] == "default"
    assert "self-delete" in extra["startup_script"]
    assert gcp.server.tokens, "the calls carried a token from the service account key"


def test_region_picks_a_zone_offering_the_gpu(gcp: GcpApi, cloud: GcpCloud) -> None:
    machine = cloud.resolve(request(cloud_type="m+l4", region="us-east1", ssh_cidr="10.1.2.3/32"))
    assert machine.extra["zone"] == "us-east1-b" and machine.instance_type == "g2-standard-8"
    assert machine.extra["accelerator"] is None and machine.gpu == "l4"  # built in


def test_stack_spec_fits_the_modules(gcp: GcpApi, cloud: GcpCloud) -> None:
    gcp.compute.roles[ROLE] = ["compute.instances.delete"]
    machine = cloud.resolve(
        request(
            spot=True,
            permission_set="ml-jobs@cml-test.iam.gserviceaccount.com,scopes=storage-ro",
            metadata={"cmlinfra-role": "runner"},
        )
    )
    spec = cloud.stack(machine, PUBKEY)
    assert spec.cloud == "gcp" and set(spec.modules) == {"network", "runner"}
    for label, (module, variables) in spec.modules.items():
        declared, required, _ = module_interface(module)
        assert set(variables) <= declared, (label, set(variables) - declared)
        assert required <= set(variables), (label, required - set(variables))
    runner = spec.modules["runner"][1]
    assert runner["spot"] is True and runner["gpu_type"] == "nvidia-tesla-t4"
    assert runner["service_account_email"] == "ml-jobs@cml-test.iam.gserviceaccount.com"
    assert runner["service_account_scopes"] == ["storage-ro"]
    assert runner["self_delete_role"] == ROLE
    assert runner["network_tags"] == [Ref("module.network.target_tag")]
    assert runner["labels"]["cmlinfra-role"] == "runner"
    assert runner["expires_at"].isdigit() and runner["max_run_duration_seconds"] == 86400
    _, _, outputs = module_interface(spec.modules["runner"][0])
    assert {o.split(".")[-1] for o in spec.outputs.values()} <= outputs
    assert provider_block_problems(spec.providers["google"], load_snapshot("google")) == []


def test_no_default_network_creates_one(gcp: GcpApi, cloud: GcpCloud) -> None:
    gcp.compute.networks.clear()
    machine = cloud.resolve(request(ssh_cidr="10.1.2.3/32"))
    assert machine.extra["create_network"] is True


def test_address_reads_host_keys_from_guest_attributes(gcp: GcpApi, cloud: GcpCloud) -> None:
    body = {"name": "cml-t1", "machineType": "zones/us-west1-b/machineTypes/n1-standard-4"}
    gcp.compute.handle("compute.instances.insert", {"project": "cml-test", "zone": "us-west1-b"},
                       {}, body)  # fmt: skip
    keys = {"ssh-ed25519": "AAAAC3NzaEd", "ssh-rsa": "AAAAB3NzaRsa"}
    gcp.compute.set_host_keys("us-west1-b", "cml-t1", keys)
    outputs = {"address": "203.0.113.50", "instance_id": "cml-t1", "project": "cml-test",
               "zone": "us-west1-b", "ssh_user": "ubuntu", "ssh_port": 22}  # fmt: skip
    address = cloud.address(outputs)
    assert address.host_keys == ("ssh-ed25519 AAAAC3NzaEd", "ssh-rsa AAAAB3NzaRsa")
    assert (address.host, address.user, address.instance_id) == ("203.0.113.50", "ubuntu", "cml-t1")
    gcp.compute.guest_attributes.clear()  # an image without the guest agent: serial fallback
    gcp.compute.serial["us-west1-b/cml-t1"] = (
        "ci-info: no authorized SSH keys\r\n-----BEGIN SSH HOST KEY KEYS-----\r\n"
        "ecdsa-sha2-nistp256 AAAAE2VjZHNh root@cml-t1\r\n"
        "-----END SSH HOST KEY KEYS-----\r\n"
    )
    assert cloud.address(outputs).host_keys == ("ecdsa-sha2-nistp256 AAAAE2VjZHNh",)
    gcp.compute.serial.clear()
    assert cloud.address(outputs).host_keys == ()  # nothing published: the bootstrap decides


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"region": "us-central1-q"}, "zone us-central1-q does not exist"),
        ({"region": "asia-east9"}, "region asia-east9 does not exist"),
        ({"cloud_type": "m+v100", "region": "us-east1-b"},
         "custom-8-65536-ext with nvidia-tesla-v100 is not offered in zone us-east1-b; use "
         "--cloud-region us-east1-c"),
        ({"cloud_type": "m+a100", "region": "us-east"},
         "a2-highgpu-1g is not offered in zone us-east1-c; use --cloud-region us-east1-b"),
        ({"cloud_type": "n1-standard-4+nvidia-tesla-p4*1"}, "is not offered in any zone"),
        ({"image": "cmlinfra"}, "no image family 'cml-test/cmlinfra-gpu'"),
        ({"image": "ubuntu-os-cloud/ubuntu-1004-lts"}, "no image family"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_naming_the_fix(gcp: GcpApi, cloud: GcpCloud, kw: dict[str, Any],
                                              message: str) -> None:  # fmt: skip
    with pytest.raises(UsageError) as err:
        cloud.resolve(request(ssh_cidr="10.1.2.3/32", **kw))
    assert message in f"{err.value.problem}; {err.value.fix}"
    assert not gcp.compute.instances


def test_exhausted_gpu_quota_is_refused(gcp: GcpApi, cloud: GcpCloud) -> None:
    gcp.compute.quotas["us-west1"]["NVIDIA_T4_GPUS"] = (1, 1)
    with pytest.raises(UsageError, match="GPU quota exhausted: NVIDIA_T4_GPUS in us-west1 "
                                         "allows 1, 1 in use"):  # fmt: skip
        cloud.resolve(request(ssh_cidr="10.1.2.3/32"))
    machine = cloud.resolve(request(ssh_cidr="10.1.2.3/32", spot=True))  # spot has its own
    assert machine.extra["zone"] == "us-west1-b"
    gcp.compute.quotas["global"]["GPUS_ALL_REGIONS"] = (0, 0)
    with pytest.raises(UsageError, match="GPUS_ALL_REGIONS"):
        cloud.resolve(request(ssh_cidr="10.1.2.3/32", spot=True))


def test_api_disabled_and_refused(gcp: GcpApi, cloud: GcpCloud) -> None:
    disabled = ("Compute Engine API has not been used in project 4242 before or it is "
                "disabled. Enable it by visiting https://console.developers.google.com/apis/"
                "api/compute.googleapis.com/overview?project=4242 then retry.")  # fmt: skip
    gcp.server.fail["compute.zones.list"] = (403, "accessNotConfigured", disabled)
    with pytest.raises(
        CmlinfraError,
        match="Compute Engine API is not enabled in project "
        "cml-test; enable it: gcloud services enable",
    ):
        cloud.check_reachable()
    gcp.server.fail["compute.zones.list"] = (403, "forbidden", "Required 'compute.zones.list' "
                                             "permission for 'projects/cml-test'")  # fmt: skip
    with pytest.raises(CmlinfraError, match="refused checking the Compute API"):
        cloud.check_reachable()


def test_bad_token_and_no_credentials(
    gcp: GcpApi, cloud: GcpCloud, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    gcp.server.tokens.clear()  # the fake forgets every token it issued: 401 on the next call
    monkeypatch.setattr(gcp.server, "_token", lambda: (400, {"error": "invalid_grant",
                        "error_description": "Invalid JWT Signature."}))  # fmt: skip
    with pytest.raises(CmlinfraError, match="could not be refreshed"):
        cloud.check_reachable()
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS")
    monkeypatch.setenv("HOME", str(tmp_path))  # no gcloud ADC file either
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    with pytest.raises(CmlinfraError, match="no Google Cloud credentials found"):
        cloud.check_reachable()


def test_unreachable_endpoint(gcp: GcpApi, cloud: GcpCloud, monkeypatch: pytest.MonkeyPatch,
                              closed_port_url: str) -> None:  # fmt: skip
    monkeypatch.setenv("CMLINFRA_GCP_ENDPOINT", closed_port_url)
    with pytest.raises(CmlinfraError, match=f"cannot reach the Google Compute API at "
                                            f"{closed_port_url}"):  # fmt: skip
        cloud.check_reachable()


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"permission_set": "ml-jobs@p-1234.iam.gserviceaccount.com,scopes=${path.cwd}"},
         "is not an OAuth scope"),
        ({"permission_set": "123-compute@developer.gserviceaccount.com"}, "user-managed"),
        ({"user": "${path.cwd}"}, "is not a Linux user name"),
        ({"name": "Cml_Bad"}, "is not usable on Google Cloud"),
    ],
)  # fmt: skip
def test_user_values_are_validated_offline(kw: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        GcpCloud().validate(request(**kw))


def test_a_bake_builder_cannot_delete_itself(gcp: GcpApi, cloud: GcpCloud) -> None:
    """image bake stops the builder to image its disk: no self-delete grant for it."""
    gcp.compute.roles[ROLE] = ["compute.instances.delete"]
    builder = cloud.resolve(request(ssh_cidr="10.1.2.3/32", ephemeral=False))
    assert builder.extra["self_delete_role"] is None
    assert "self_delete_role" not in cloud.stack(builder, PUBKEY).modules["runner"][1]


def test_api_errors_are_classified(gcp: GcpApi, cloud: GcpCloud) -> None:
    """A real HttpError from the client (the fake answering as Compute does) and cmlinfra's
    own wrapped errors map to the kinds the retry policy needs."""
    from googleapiclient.errors import HttpError

    from cmlinfra.clouds.base import ErrorKind
    from cmlinfra.clouds.gcp import lookups

    s = lookups.session()
    gcp.server.fail["compute.instances.insert"] = (
        503, "ZONE_RESOURCE_POOL_EXHAUSTED", "The zone 'projects/cml-test/zones/us-west1-b' does "
        "not have enough resources available to fulfill the request.  Try a different zone, or "
        "try again later.")  # fmt: skip
    body = {"name": "x", "machineType": "zones/us-west1-b/machineTypes/n1-standard-4"}
    with pytest.raises(HttpError) as raised:
        s.compute.instances().insert(project="cml-test", zone="us-west1-b", body=body).execute()
    assert cloud.classify_error(raised.value) == ErrorKind.CAPACITY
    disabled = "Compute Engine API has not been used in project 4242 before"
    gcp.server.fail["compute.zones.list"] = (403, "accessNotConfigured", disabled)
    with pytest.raises(CmlinfraError) as wrapped:
        cloud.check_reachable()
    assert cloud.classify_error(wrapped.value) == ErrorKind.AUTH
    with pytest.raises(UsageError) as refused:
        cloud.resolve(request(cloud_type="m+a100", region="us-east", ssh_cidr="10.0.0.1/32"))
    assert cloud.classify_error(refused.value) == ErrorKind.CAPACITY


def test_cmls_credentials_data_variable(gcp: GcpApi, monkeypatch: pytest.MonkeyPatch) -> None:
    """CML's GOOGLE_APPLICATION_CREDENTIALS_DATA (the key's JSON in a CI secret) works: written
    to a private file that GOOGLE_APPLICATION_CREDENTIALS names, for terraform too."""
    import os
    import stat

    from cmlinfra.clouds.gcp import lookups

    key = gcp.env["GOOGLE_APPLICATION_CREDENTIALS"]
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS_DATA", Path(key).read_text())
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS")
    lookups.check_reachable(lookups.session())
    written = os.environ["GOOGLE_APPLICATION_CREDENTIALS"]
    assert written != key and stat.S_IMODE(os.stat(written).st_mode) == 0o600
    os.unlink(written)
