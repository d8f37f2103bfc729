"""``--checkpoint-dir`` with each runner registry (registries.py: S3 on moto, Cloud Storage on
fake-gcs-server, Azure Blob Storage on Azurite): the machine's watcher, rendered and run as on
the machine, uploads through the URL file (a SigV4 URL, a GCS V4 signed URL, a blob SAS and the
blob-type header Azure requires), and no URL ever shows in its output or record; the URLs are
secrets, capped at 7 days; Google credentials that cannot sign are refused before anything is
created. gc's copy for the re-run and the job's restore, per registry: test_checkpoints_gc.py."""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from cmlinfra.clouds import cloud_info
from cmlinfra.runner import checkpoint_urls, checkpoints, reclaim
from cmlinfra.runner.checkpoint_urls import KeyStore
from cmlinfra.runner.store import open_store
from cmlinfra.secrets import redact
from tests.runner.registries import KINDS, registry
from tests.runner.test_checkpoints import metadata  # noqa: F401  (the fixture)
from tests.runner.test_gc_rerun import World, world  # noqa: F401  (the fixture)


@pytest.fixture(params=KINDS)
def store(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> KeyStore:
    found = open_store(registry(request.param, request, monkeypatch, tmp_path))
    assert isinstance(found, KeyStore)
    return found


def _signature(url: str) -> str:
    query = parse_qs(urlsplit(url).query)
    [name] = [name for name in checkpoint_urls.SIGNATURES if name in query]
    return query[name][0]


@pytest.mark.parametrize("fetch", ["curl", "python3"])
def test_the_watcher_uploads_through_each_registrys_url(
    store: KeyStore,
    metadata: str,  # noqa: F811
    fetch: str,
    tmp_path: Path,
) -> None:
    interruption = cloud_info("aws").capabilities.interruption
    watch = reclaim.Watch(
        interruption, metadata, checkpoint_dir="ckpt", runner=True, upload=checkpoints.URL_FILE
    )
    script = tmp_path / "reclaim"
    script.write_text(reclaim.render(watch))
    script.chmod(0o755)
    state = tmp_path / "var/lib/cmlinfra"
    state.mkdir(parents=True)
    workspace = tmp_path / "work/repo"
    (workspace / "ckpt").mkdir(parents=True)
    (workspace / "ckpt/step").write_text("3\n")
    (state / "job.env").write_text(f"run_id=4242\njob=train\nworkspace={workspace}\n")
    text = checkpoint_urls.url_file(store, "ckpt-a", 3600)
    urls = text.splitlines()[:2]
    assert text.splitlines()[2:] == list(store.put_headers())
    secret = tmp_path / checkpoints.URL_FILE.lstrip("/")
    secret.parent.mkdir(parents=True)
    secret.write_text(text)
    env = {**os.environ, "CMLINFRA_ROOT": str(tmp_path)}
    if fetch == "python3":
        env["CMLINFRA_NO_CURL"] = "1"
    heard = subprocess.run([script, "check"], env=env, capture_output=True, text=True)
    assert heard.returncode == 0, heard.stderr
    mark_text = (state / "reclaim").read_text()
    mark = reclaim.parse(mark_text)
    assert (mark["checkpoint"], mark["checkpoint_upload"]) == ("saved", "ok"), heard.stderr
    assert (mark["run_id"], mark["job"], mark["done"]) == ("4242", "train", "1")
    about = store.read_key("reg/ckpt-a/checkpoint.env") or b""
    assert reclaim.parse(about.decode())["run_id"] == "4242"
    data = store.read_key("reg/ckpt-a/checkpoint.tgz")
    with tarfile.open(fileobj=io.BytesIO(data or b"")) as tar:
        assert sorted(tar.getnames()) == [".", "./step"]
    seen = heard.stdout + heard.stderr + mark_text
    for url in urls:
        assert url not in seen and _signature(url) not in seen


def test_the_urls_are_secrets_valid_at_most_a_week(store: KeyStore) -> None:
    archive, about = checkpoint_urls.presign(store, "ckpt-a", 30 * 24 * 3600)
    assert "/reg/ckpt-a/checkpoint.tgz?" in archive and "/reg/ckpt-a/checkpoint.env?" in about
    for url in (archive, about):
        assert redact(f"PUT {url} failed") == "PUT *** failed"
        assert redact(_signature(url)) == "***"
    query = parse_qs(urlsplit(archive).query)
    if "se" in query:  # Azure: the expiry itself
        from datetime import UTC, datetime

        left = datetime.fromisoformat(query["se"][0]).astimezone(UTC) - datetime.now(UTC)
        assert 6.9 < left.total_seconds() / 86400 <= 7
    else:
        expires = query.get("X-Amz-Expires") or query["X-Goog-Expires"]
        assert expires == [str(7 * 24 * 3600)]
    checkpoint_urls.check_store(store)  # these credentials can sign: launch goes on
    assert [key for key, _ in store.list_keys("")] == []  # signing wrote nothing


def test_google_credentials_that_cannot_sign_are_refused_first(
    world: World,  # noqa: F811
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """A user's gcloud login (no service account behind it) cannot sign a URL: ``runner
    launch`` stops when it opens the registry, after the forge check and before any machine,
    in one line naming the fix, with nothing in the bucket or at the forge."""
    url = registry("gs", request, monkeypatch, tmp_path)
    user = tmp_path / "user.json"
    user.write_text(json.dumps({
        "type": "authorized_user", "client_id": "c.apps.googleusercontent.com",
        "client_secret": "s", "refresh_token": "r",
    }))  # fmt: skip
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(user))
    result = world.run_cli(
        "runner", "launch", "--name", "ckpt-gs", "--cloud", "gcp", "--cloud-spot",
        "--max-ttl", "1h", "--state", url, "--checkpoint-dir", "ckpt", env=world.env,
    )  # fmt: skip
    assert result.returncode != 0 and "cannot sign" in result.stderr, result.stderr
    assert "GOOGLE_APPLICATION_CREDENTIALS" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    found = open_store(url)
    assert isinstance(found, KeyStore) and found.list_keys("") == []
    assert world.repo.state.runners == {}


def test_azurite_checks_the_sas_and_the_blob_type(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """What the emulator proves of the URL the watcher gets: Azurite verifies a SAS's
    signature and wants the blob type header (fake-gcs-server checks no signature at all, so
    only a real bucket shows that a V4 URL is accepted: docs/reclaim.md)."""
    import urllib.error
    import urllib.request

    found = open_store(registry("azurerm", request, monkeypatch, tmp_path))
    assert isinstance(found, KeyStore)
    url = found.presign_put("reg/ckpt-a/checkpoint.tgz", 600)
    signature = parse_qs(urlsplit(url).query)["sig"][0]
    forged = url.replace(urlsplit(url).query.split("sig=")[1].split("&")[0], "A" * len(signature))
    blob_type = {"x-ms-blob-type": "BlockBlob"}
    opener = urllib.request.build_opener()  # the proxy as set now (urlopen's is built once)
    for target, headers, code in [(forged, blob_type, 403), (url, {}, 400)]:
        put = urllib.request.Request(target, b"x", headers, method="PUT")
        with pytest.raises(urllib.error.HTTPError) as caught:
            opener.open(put, timeout=30)
        assert caught.value.code == code
    assert found.read_key("reg/ckpt-a/checkpoint.tgz") is None
    opener.open(urllib.request.Request(url, b"x", blob_type, method="PUT"), timeout=30)
    assert found.read_key("reg/ckpt-a/checkpoint.tgz") == b"x"
