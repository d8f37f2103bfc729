"""AWS cloud: how fast bad input is refused, and what the pre-Terraform look-ups cost.

Against a local moto server (real HTTP, loopback): on real EC2 each of the ~7 calls adds a
network round trip, so the resolve figure is a lower bound.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path

from benchmarks.common import Row, Section, median_seconds

ROOT = Path(__file__).resolve().parents[1]
XENIAL = "099720109477:ubuntu/images/hvm-ssd/ubuntu-xenial-16.04-amd64-server-*"
PUBKEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKeyKeyKeyKeyKeyKeyKeyKeyKeyKeyKeyKeyKeyKeyK bench"


def run() -> Section:
    from moto.server import ThreadedMotoServer

    from cmlinfra.clouds.aws.cloud import AwsCloud
    from cmlinfra.clouds.base import MachineRequest
    from cmlinfra.errors import UsageError
    from cmlinfra.stack.compose import synthesize
    from tests.fixtures.moto import AWS_ENV, free_port

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    saved = dict(os.environ)
    os.environ.update({**AWS_ENV, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"})
    section = Section("AWS cloud", "python benchmarks/run.py aws")
    try:
        cloud = AwsCloud(host_key_wait_s=0)
        good = MachineRequest(
            name="cml-bench", cloud_type="m+t4", region="us-east", image=XENIAL,
            ssh_cidr="203.0.113.9/32",
        )  # fmt: skip
        bad = MachineRequest(name="cml-bench", cloud_type="m+h100", region="us-east")

        def refuse() -> None:
            try:
                cloud.resolve(bad)
            except UsageError:
                return
            raise AssertionError("bad input was accepted")

        cloud.resolve(good)  # warm moto's EC2 backend and boto3's data loading
        section.rows.append(
            Row("bad --cloud-type refused", median_seconds(refuse, 20) * 1000, "ms", "< 50 ms",
                "offline catalog, before any API call")
        )  # fmt: skip
        section.rows.append(
            Row("resolve m+t4 (all look-ups)", median_seconds(lambda: cloud.resolve(good), 5),
                "s", "< 2 s", "moto on loopback; EC2 adds ~7 round trips")
        )  # fmt: skip
        machine = cloud.resolve(good)
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            synthesize(cloud.stack(machine, PUBKEY), Path(tmp))
            section.rows.append(
                Row("stack synth (cdktn)", time.perf_counter() - start, "s", "< 10 s",
                    "first synth in the process: starts jsii's node")
            )  # fmt: skip
        checkov = ROOT / ".cache" / "tools" / "checkov" / "bin" / "checkov"
        if checkov.exists():
            start = time.perf_counter()
            subprocess.run(
                [str(checkov), "--skip-download", "--quiet", "-d", str(ROOT / "terraform/modules"),
                 "--framework", "terraform"],
                capture_output=True, check=False, timeout=300,
            )  # fmt: skip
            section.rows.append(
                Row("checkov, all modules", time.perf_counter() - start, "s", "< 30 s", "offline")
            )
    finally:
        os.environ.clear()
        os.environ.update(saved)
        server.stop()
    return section
