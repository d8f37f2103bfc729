"""``cmlinfra stack render --cloud gcp`` as a CI step runs it, against the Compute fake.

``stack plan``/``apply`` stop at ``terraform init`` here: the Google provider cannot be
downloaded on these machines (docs/gcp.md).
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.fixtures.cli import CliRunner
from tests.fixtures.gcp import GcpApi

ARGS = ["--cloud", "gcp", "--ssh-cidr", "203.0.113.9/32"]


def test_render_a_gcp_stack(cli: CliRunner, gcp: GcpApi, tmp_path: Path) -> None:
    env = {**gcp.env, "CMLINFRA_HOME": str(tmp_path)}
    result = cli(
        "stack", "render", "--name", "cml-cli", "--cloud-type", "m+t4", "--cloud-spot",
        "--cloud-metadata", "team=ml", "--cloud-region", "us-east", *ARGS, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    runner = document["module"]["runner"]
    assert (runner["machine_type"], runner["zone"]) == ("n1-standard-4", "us-east1-c")
    assert (runner["gpu_type"], runner["gpu_count"], runner["spot"]) == ("nvidia-tesla-t4", 1, True)
    assert runner["labels"] == {"team": "ml", "cmlinfra-role": "stack"}  # gc: no record expected
    assert "self-delete" in runner["startup_script"]
    network = document["module"]["network"]
    assert network["ssh_cidrs"] == ["203.0.113.9/32"] and network["network"] == "default"
    provider = document["provider"]["google"][0]
    assert (provider["project"], provider["region"]) == ("cml-test", "us-east1")
    assert document["terraform"]["required_providers"]["google"]["source"] == "hashicorp/google"


def test_bad_input_leaves_nothing_behind(cli: CliRunner, gcp: GcpApi, tmp_path: Path) -> None:
    env = {**gcp.env, "CMLINFRA_HOME": str(tmp_path)}
    gcp.compute.quotas["us-west1"]["NVIDIA_T4_GPUS"] = (2, 2)
    for bad, message in [
        (["--cloud-type", "e2-standard-8", "--cloud-gpu", "t4"], "cannot take attached GPUs"),
        (["--cloud-type", "m", "--cloud-region", "mars"], "is not a Google Cloud region or zone"),
        (["--cloud-type", "m", "--cloud-region", "us-west1-z"], "zone us-west1-z does not exist"),
        (["--cloud-type", "m+a100", "--cloud-region", "us-east"],
         "use --cloud-region us-east1-b, which offers it"),
        (["--cloud-type", "m+t4"], "GPU quota exhausted: NVIDIA_T4_GPUS in us-west1"),
        (["--cloud-type", "m", "--cloud-spot", "--cloud-spot-price", "0.3"], "have no bid"),
    ]:  # fmt: skip
        result = cli("stack", "render", "--name", "cml-bad", *ARGS, *bad, env=env)
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], result.stderr
    assert not any(tmp_path.rglob("cml-bad*")), "a refused request must leave no stack behind"
    assert not gcp.compute.instances


def test_no_credentials_and_disabled_api(cli: CliRunner, gcp: GcpApi, tmp_path: Path) -> None:
    env = {**gcp.env, "CMLINFRA_HOME": str(tmp_path), "HOME": str(tmp_path),
           "CLOUDSDK_CONFIG": str(tmp_path / "gcloud"),
           "GOOGLE_APPLICATION_CREDENTIALS": ""}  # fmt: skip
    result = cli("stack", "render", "--name", "cml-nocred", "--cloud-type", "m", *ARGS, env=env)
    assert result.returncode == 1
    assert "no Google Cloud credentials found; run 'gcloud auth application-default login'" in (
        result.stderr
    )
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    gcp.server.fail["compute.zones.list"] = (403, "accessNotConfigured", "Compute Engine API has "
                                             "not been used in project 4242 before or it is "
                                             "disabled.")  # fmt: skip
    env = {**gcp.env, "CMLINFRA_HOME": str(tmp_path)}
    result = cli("stack", "render", "--name", "cml-off", "--cloud-type", "m", *ARGS, env=env)
    assert result.returncode == 1
    assert "gcloud services enable compute.googleapis.com --project cml-test" in result.stderr
    assert not any(tmp_path.rglob("cml-nocred*")) and not any(tmp_path.rglob("cml-off*"))


def test_gc_sweeps_terminated_and_expired_instances(
    cli: CliRunner, gcp: GcpApi, tmp_path: Path
) -> None:
    """A powered-off (TERMINATED) runner instance without a record still bills for its disk:
    ``gc --cloud gcp`` finds it by its labels and deletes it with --yes."""
    body = {"name": "cml-left", "machineType": "zones/us-west1-b/machineTypes/n1-standard-4",
            "labels": {"cmlinfra-stack": "cml-left", "cmlinfra-role": "runner"}}  # fmt: skip
    gcp.compute.handle("compute.instances.insert", {"project": "cml-test", "zone": "us-west1-b"},
                       {}, body)  # fmt: skip
    gcp.compute.instances["us-west1-b/cml-left"]["status"] = "TERMINATED"
    env = {**gcp.env, "CMLINFRA_HOME": str(tmp_path)}
    state = str(tmp_path / "registry")
    found = cli("gc", "--cloud", "gcp", "--state", state, "--no-forge", env=env)
    assert found.returncode == 0, found.stderr
    assert "orphan-machine" in found.stdout and "us-west1-b/cml-left (terminated)" in found.stdout
    fixed = cli("gc", "--cloud", "gcp", "--state", state, "--no-forge", "--yes", env=env)
    assert fixed.returncode == 0, fixed.stderr
    assert "us-west1-b/cml-left" not in gcp.compute.instances
