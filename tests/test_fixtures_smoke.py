"""The real components the suite relies on are present and answer."""

from __future__ import annotations

import subprocess


def test_both_terraform_versions_run(terraform_binary) -> None:
    out = subprocess.run(
        [str(terraform_binary.path), "version", "-json"], capture_output=True, text=True, check=True
    )
    assert f'"terraform_version": "{terraform_binary.version}"' in out.stdout


def test_moto_server_answers(moto) -> None:
    s3 = moto.client("s3")
    s3.create_bucket(Bucket="smoke")
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["smoke"]
