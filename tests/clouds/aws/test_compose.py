"""The AWS StackSpec through the real stack composer (cdktn synth) into Terraform JSON.

``terraform init`` of the result would need the AWS provider, which cannot be downloaded here;
the synthesized JSON is checked instead: its modules, outputs and provider block.
"""

from __future__ import annotations

import json
from pathlib import Path

from cmlinfra.clouds.aws.cloud import AwsCloud
from cmlinfra.clouds.base import MachineRequest
from cmlinfra.stack.compose import synthesize
from tests.clouds.aws.test_cloud import PUBKEY, XENIAL
from tests.clouds.hclschema import load_snapshot, provider_block_problems
from tests.fixtures.moto import MotoServer


def test_synthesized_stack(moto_read: MotoServer, tmp_path: Path) -> None:
    cloud = AwsCloud(host_key_wait_s=0)
    request = MachineRequest(
        name="cml-compose", cloud_type="m+t4", region="us-east", image=XENIAL,
        ssh_cidr="203.0.113.9/32", spot=True,
    )  # fmt: skip
    spec = cloud.stack(cloud.resolve(request), PUBKEY)
    document = json.loads(synthesize(spec, tmp_path / "work").read_text())

    modules = document["module"]
    assert Path(modules["network"]["source"]).name == "network"
    assert Path(modules["runner"]["source"]).name == "gpu-runner"
    assert modules["runner"]["security_group_ids"] == ["${module.network.security_group_id}"]
    assert modules["runner"]["instance_type"] == "g4dn.xlarge"
    assert modules["runner"]["spot"] is True and "spot_max_price" not in modules["runner"]
    assert modules["network"]["ssh_cidrs"] == ["203.0.113.9/32"]
    assert document["output"]["address"]["value"] == "${module.runner.address}"
    assert document["output"]["region"]["value"] == "${module.runner.region}"

    [provider] = document["provider"]["aws"]
    assert provider_block_problems(provider, load_snapshot()) == []
    assert provider["region"] == "us-east-1"
    assert document["terraform"]["required_providers"]["aws"]["source"] == "hashicorp/aws"
