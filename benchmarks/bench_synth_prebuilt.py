"""AWS stack synthesis: cmlinfra's composition against the prebuilt ``cdktn-provider-aws``
bindings.

cmlinfra composes ``TerraformHclModule``s (terraform/modules/aws) with raw provider blocks
instead of importing the generated AWS bindings, whose import alone costs seconds and hundreds
of MB. This section measures that choice rather than asserting it: the same runner stack (VPC,
subnet, route, security group, SSH rules, key pair, instance) is written once with the prebuilt
bindings and synthesized in their own venv, and cmlinfra's AWS StackSpec is synthesized the
way ``runner launch`` does. Both run in fresh processes; peak memory includes jsii's node child.

The bindings (≈ 70 MB wheel, ≈ 520 MB installed) go into a separate venv under
``.cache/bench/prebuilt`` (git-ignored), created on first run — never into the project's venv
or dependencies.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import Row, Section

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".cache" / "bench" / "prebuilt"
PINS = ("cdktn==0.24.0", "constructs==10.7.2", "cdktn-provider-aws==25.8.1")
RUNS = 3
PUBKEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBenchBenchBenchBenchBenchBenchBenchBench bench"
USER_DATA = "#!/bin/sh\necho bench\n"

# Both children print one JSON line: import (s), synth (s), first (import + synth, s), rss_mib.
OURS = r"""
import json, sys, time
t0 = time.perf_counter()
from pathlib import Path
from cmlinfra.clouds.aws.stack import build
from cmlinfra.clouds.base import MachineRequest, ResolvedMachine
from cmlinfra.stack.compose import synthesize
import cdktn
t1 = time.perf_counter()
request = MachineRequest(name="bench", cloud_type="m+t4", region="us-east",
                         ssh_cidr="203.0.113.9/32")
machine = ResolvedMachine(request, "aws", "g4dn.xlarge", "us-east-1", "t4", 1, 4, 16.0, 0.526,
    "ami-0123456789abcdef0", {"ssh_cidr": "203.0.113.9/32", "availability_zone": "us-east-1a",
    "tags": {"team": "ml"}, "ssh_user": "ubuntu", "hdd_size_gb": 35, "user_data": sys.argv[3],
    "expires_at": "2026-01-01T00:00:00Z", "owner_repo": "acme/model"})
out = synthesize(build(machine, sys.argv[2]), Path(sys.argv[1]))
t2 = time.perf_counter()
from benchmarks.common import peak_rss_mib  # after the timings: not part of the cost
print(json.dumps({"import": t1 - t0, "synth": t2 - t1, "first": t2 - t0,
                  "rss_mib": peak_rss_mib(), "resources": 0, "bytes": out.stat().st_size}))
"""

PREBUILT = r"""
import json, sys, time
t0 = time.perf_counter()
from pathlib import Path
from cdktn import App, TerraformOutput, TerraformStack
from cdktn_provider_aws.provider import AwsProvider, AwsProviderDefaultTags
from cdktn_provider_aws.vpc import Vpc
from cdktn_provider_aws.internet_gateway import InternetGateway
from cdktn_provider_aws.subnet import Subnet
from cdktn_provider_aws.route_table import RouteTable, RouteTableRoute
from cdktn_provider_aws.route_table_association import RouteTableAssociation
from cdktn_provider_aws.security_group import SecurityGroup
from cdktn_provider_aws.vpc_security_group_ingress_rule import VpcSecurityGroupIngressRule
from cdktn_provider_aws.vpc_security_group_egress_rule import VpcSecurityGroupEgressRule
from cdktn_provider_aws.key_pair import KeyPair
from cdktn_provider_aws.instance import Instance, InstanceRootBlockDevice
t1 = time.perf_counter()
app = App(outdir=sys.argv[1])
s = TerraformStack(app, "bench")
tags = {"team": "ml", "cmlinfra:stack": "bench", "managed-by": "cmlinfra"}
AwsProvider(s, "aws", region="us-east-1", default_tags=[AwsProviderDefaultTags(tags=tags)])
vpc = Vpc(s, "vpc", cidr_block="10.42.0.0/16", enable_dns_hostnames=True, tags={"Name": "bench"})
igw = InternetGateway(s, "igw", vpc_id=vpc.id)
subnet = Subnet(s, "subnet", vpc_id=vpc.id, cidr_block="10.42.0.0/24",
                availability_zone="us-east-1a", map_public_ip_on_launch=True)
rt = RouteTable(s, "rt", vpc_id=vpc.id,
                route=[RouteTableRoute(cidr_block="0.0.0.0/0", gateway_id=igw.id)])
RouteTableAssociation(s, "rta", subnet_id=subnet.id, route_table_id=rt.id)
sg = SecurityGroup(s, "sg", name="bench", description="cmlinfra runner", vpc_id=vpc.id)
VpcSecurityGroupIngressRule(s, "ssh", security_group_id=sg.id, cidr_ipv4="203.0.113.9/32",
                            ip_protocol="tcp", from_port=22, to_port=22)
VpcSecurityGroupEgressRule(s, "egress", security_group_id=sg.id, cidr_ipv4="0.0.0.0/0",
                           ip_protocol="tcp", from_port=0, to_port=65535)
key = KeyPair(s, "key", key_name="bench", public_key=sys.argv[2])
vm = Instance(s, "runner", ami="ami-0123456789abcdef0", instance_type="g4dn.xlarge",
              subnet_id=subnet.id, vpc_security_group_ids=[sg.id], key_name=key.key_name,
              user_data=sys.argv[3], root_block_device=InstanceRootBlockDevice(volume_size=35),
              tags={"Name": "bench"})
TerraformOutput(s, "address", value=vm.public_dns)
TerraformOutput(s, "instance_id", value=vm.id)
app.synth()
t2 = time.perf_counter()
out = Path(sys.argv[1]) / "stacks" / "bench" / "cdk.tf.json"
from benchmarks.common import peak_rss_mib  # after the timings: not part of the cost
resources = sum(len(v) for v in json.loads(out.read_text())["resource"].values())
print(json.dumps({"import": t1 - t0, "synth": t2 - t1, "first": t2 - t0, "rss_mib": peak_rss_mib(),
                  "resources": resources,
                  "bytes": out.stat().st_size}))
"""


def ensure_venv() -> tuple[float | None, str]:
    """The bindings' venv: (seconds spent installing, or None when it was there; problem)."""
    python, marker = VENV / "bin" / "python", VENV / ".installed"
    if marker.exists() and marker.read_text() == "\n".join(PINS) and python.exists():
        return None, ""
    start = time.perf_counter()
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *PINS],
            check=True,
            capture_output=True,
            text=True,
            timeout=1200,
        )
    except subprocess.CalledProcessError as exc:
        last = (exc.stderr or "").strip().splitlines()[-1:] or [f"exit {exc.returncode}"]
        return None, f"pip install {' '.join(PINS)} failed: {last[0]}"
    except subprocess.TimeoutExpired:
        return None, "pip install of the prebuilt bindings took over 20 minutes"
    marker.write_text("\n".join(PINS))
    return time.perf_counter() - start, ""


def _child(python: str, code: str, tmp: Path, jsii_cache: Path | None = None) -> dict[str, float]:
    env = {**os.environ, "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1"}
    env["PYTHONPATH"] = str(ROOT)  # cmlinfra for ours; only benchmarks.common for the bindings
    if jsii_cache is not None:
        env["JSII_RUNTIME_PACKAGE_CACHE_ROOT"] = str(jsii_cache)
    argv = [python, "-c", code, str(tmp), PUBKEY, USER_DATA]
    out = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _measure(python: str, code: str) -> tuple[dict[str, float], dict[str, float]]:
    """(medians of RUNS fresh processes with jsii's package cache filled — peak memory: the
    largest —, one process with an empty cache, as on a fresh CI runner)."""
    with tempfile.TemporaryDirectory() as tmp:
        cold = _child(python, code, Path(tmp) / "cold", jsii_cache=Path(tmp) / "jsii-cache")
        runs = [_child(python, code, Path(tmp) / str(i)) for i in range(RUNS)]
    result = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    result["rss_mib"] = max(r["rss_mib"] for r in runs)
    return result, cold


def _rows(who: str, warm: dict[str, float], cold: dict[str, float]) -> list[Row]:
    what = "cmlinfra + cdktn" if who == "cmlinfra" else "cdktn + 11 binding modules"
    synth = "2 modules" if who == "cmlinfra" else f"{warm['resources']:.0f} resources"
    return [
        Row(f"{who}: import ({what})", warm["import"], "s"),
        Row(f"{who}: synth ({synth})", warm["synth"], "s"),
        Row(f"{who}: import + synth", warm["first"], "s", "≤ 1.5 s"),
        Row(f"{who}: peak RSS, Python + node child", warm["rss_mib"], "MiB", "≤ 150 MB (143 MiB)"),
        Row(f"{who}: import + synth, empty jsii cache", cold["first"], "s", note="fresh runner"),
        Row(f"{who}: peak RSS, empty jsii cache", cold["rss_mib"], "MiB", note="fresh runner"),
    ]


def run() -> Section:
    ours, ours_cold = _measure(sys.executable, OURS)
    section = Section(
        title="AWS stack synthesis: cmlinfra against prebuilt cdktn-provider-aws bindings",
        command="python benchmarks/run.py synth_prebuilt",
        rows=_rows("cmlinfra", ours, ours_cold),
    )
    installed, problem = ensure_venv()
    if problem:
        section.rows.append(Row("prebuilt bindings", "not measured", note=problem))
        section.notes.append(
            f"The prebuilt bindings could not be installed, so there is no comparison: {problem}."
        )
        return section
    theirs, theirs_cold = _measure(str(VENV / "bin" / "python"), PREBUILT)
    section.rows += [
        *_rows("prebuilt", theirs, theirs_cold),
        Row("ratio prebuilt / cmlinfra, import + synth", theirs["first"] / ours["first"], "x"),
        Row("ratio prebuilt / cmlinfra, peak RSS", theirs["rss_mib"] / ours["rss_mib"], "x"),
        Row(
            "ratio prebuilt / cmlinfra, import + synth, empty jsii cache",
            theirs_cold["first"] / ours_cold["first"],
            "x",
        ),
    ]
    section.notes.append(
        f"Median of {RUNS} fresh processes each (peak RSS: the largest) with jsii's package "
        "cache filled, plus one process with an empty cache (JSII_RUNTIME_PACKAGE_CACHE_ROOT "
        "set to a new directory: jsii unpacks every assembly first, as on a fresh CI runner). "
        f"{' '.join(PINS)} in {VENV.relative_to(ROOT)} (system site-packages off). "
        "Both stacks: VPC, subnet, internet gateway, route table, security group, SSH ingress "
        "and egress rules, key pair, instance; cmlinfra's as terraform/modules/aws."
    )
    if installed is not None:
        section.notes.append(f"This run first installed the bindings' venv ({installed:.0f} s).")
    return section
