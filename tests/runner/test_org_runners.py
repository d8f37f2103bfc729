"""Organization-level runners through the CLI, as a platform team's CI runs it: bad or
unauthorised organization URLs fail before anything exists, ``runner list`` shows the scope,
``runner destroy`` from a repository's job unregisters at the organization, and ``gc`` sweeps
the organization's pool (only runners named like cmlinfra's)."""

from __future__ import annotations

import json

import pytest

from cmlinfra.runner.records import RunnerRecord
from cmlinfra.runner.store import open_store


def _launch(cli, forge, state, repo_path: str, *extra: str):  # type: ignore[no-untyped-def]
    args = ["runner", "launch", "--cloud", "lxd", "--state", str(state), "--driver", "github"]
    path, *more = repo_path.split()
    repo = ["--repo", f"{forge.url}/{path}", *more, "--token", forge.token]
    return cli(*args, *repo, *extra, env={"CMLINFRA_HOME": str(state / "home")})


# The forge is asked after the cloud's own checks (a typo in --cloud-type is reported first),
# so these need the LXD cloud reachable; nothing is created on it.
@pytest.mark.parametrize(
    ("repo_path", "status", "line"),
    [
        pytest.param(
            "nope",
            1,
            "cmlinfra: error: no GitHub organization 'nope', or the token cannot see it",
            marks=pytest.mark.lxd,
        ),
        pytest.param(
            "acme --runner-group gpus",
            1,
            "cmlinfra: error: no runner group 'gpus' in GitHub organization acme; pass "
            "--runner-group with one of its groups, by name or id: Default (1)",
            marks=pytest.mark.lxd,
        ),
        ("acme/ml/tree/main", 2, "cmlinfra: error: --repo "),
        ("acme/ml --runner-group 2", 2, "cmlinfra: error: --runner-group 2 needs a GitHub org"),
    ],
)
def test_bad_organization_fails_before_anything_is_created(
    cli, forge, tmp_path, repo_path: str, status: int, line: str
) -> None:
    forge.state.add_owner("github", "acme")
    result = _launch(cli, forge, tmp_path, repo_path)
    assert result.returncode == status, result.stderr
    assert result.stderr.strip().startswith(line) and len(result.stderr.strip().splitlines()) == 1
    assert open_store(str(tmp_path)).names() == []
    assert not (tmp_path / "home" / "stacks").exists() or not any(
        (tmp_path / "home" / "stacks").iterdir()
    )
    assert [c.method for c in forge.api_calls("github") if c.method == "POST"] == []


@pytest.mark.lxd
def test_organization_token_without_admin_org_is_refused_up_front(cli, forge, tmp_path) -> None:
    org = forge.state.add_owner("github", "acme")
    forge.fail("github", "GET", "/orgs/acme/actions/runners", 403, "Must have admin rights")
    result = _launch(cli, forge, tmp_path, "acme")
    assert result.returncode == 1
    [error] = result.stderr.strip().splitlines()
    assert error.startswith("cmlinfra: error: GitHub refused to manage the runners of GitHub ")
    assert "admin:org" in error and forge.token not in result.stderr
    assert org.runners == {} and open_store(str(tmp_path)).names() == []


def test_list_shows_scope_and_destroy_unregisters_at_the_organization(
    cli, forge_repo, tmp_path
) -> None:
    """Launched with --repo …/acme, destroyed from acme/ml's own job (its CI environment
    names the repository): the record's URL sends the unregistration to the organization."""
    repo = forge_repo("github", "acme/ml")
    org = repo.server.state.add_owner("github", "acme")
    from cmlinfra.forges import connect
    from cmlinfra.forges.context import detect

    org_forge = connect(detect(repo.env(), repo=f"{repo.server.url}/acme", owner_ok=True))
    reg = org_forge.runner_registration(name="cml-pool", labels=["cml"])
    store = open_store(str(tmp_path))
    store.put(
        RunnerRecord(
            name="cml-pool",
            cloud="ssh",
            phase="ready",
            forge="github",
            repo=f"{repo.server.url}/acme",
            scope=reg.scope,
            runner_id=reg.runner_id,
        )
    )
    store.put(RunnerRecord(name="cml-mine", cloud="ssh", phase="ready", forge="github"))
    env = {"CMLINFRA_HOME": str(tmp_path / "home")}

    text = cli("runner", "list", "--state", str(tmp_path), env=env)
    scopes = {line.split()[0]: line.split()[4] for line in text.stdout.splitlines()[1:]}
    assert scopes == {"cml-mine": "repository", "cml-pool": "organization"}
    rows = json.loads(cli("--json", "runner", "list", "--state", str(tmp_path)).stdout)["runners"]
    assert {r["name"]: r["repo"] for r in rows}["cml-pool"] == f"{repo.server.url}/acme"

    forge_args = ["--driver", "github", "--repo", f"{repo.server.url}/acme/ml"]
    done = cli(
        "runner", "destroy", "cml-pool", "--state", str(tmp_path), *forge_args, "--token",
        repo.server.token, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert org.runners == {} and store.names() == ["cml-mine"]


@pytest.mark.parametrize("same_host", [True, False])
def test_destroy_unregisters_at_the_records_url_or_keeps_the_record(
    cli, forge_repo, tmp_path, same_host: bool
) -> None:
    """The record's URL as another spelling of this host (``HTTP://`` scheme) still reaches
    the organization; a host this connection cannot reach keeps the record and the runner
    (a 404 at the caller's repository is not "already gone")."""
    repo = forge_repo("github", "acme/ml")
    org = repo.server.state.add_owner("github", "acme")
    from cmlinfra.forges import connect
    from cmlinfra.forges.context import detect

    url = repo.server.url
    org_forge = connect(detect(repo.env(), repo=f"{url}/acme", owner_ok=True))
    reg = org_forge.runner_registration(name="cml-pool", labels=["cml"])
    where = url.replace("http://", "HTTP://") if same_host else "https://ghe.elsewhere.test"
    record = RunnerRecord(
        name="cml-pool", cloud="ssh", phase="ready", forge="github", repo=f"{where}/acme",
        scope="organization", runner_id=reg.runner_id,
    )  # fmt: skip
    store = open_store(str(tmp_path))
    store.put(record)
    done = cli(
        "runner", "destroy", "cml-pool", "--state", str(tmp_path), "--driver", "github",
        "--repo", f"{url}/acme/ml", "--token", repo.server.token,
        env={"CMLINFRA_HOME": str(tmp_path / "home")},
    )  # fmt: skip
    if same_host:
        assert done.returncode == 0, done.stderr
        assert org.runners == {} and store.names() == []
        return
    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()
    assert "not unregistering, record kept" in line and "gc --repo https://ghe.elsewhere" in line
    assert [r.name for r in org.runners.values()] == ["cml-pool"] and store.names() == ["cml-pool"]


def test_gc_sweeps_only_cmlinfra_runners_of_the_organization(cli, forge, tmp_path) -> None:
    org = forge.state.add_owner("github", "acme")
    forge.state.add_repo("github", "acme/ml")
    from cmlinfra.forges import connect
    from cmlinfra.forges.context import detect

    url = f"{forge.url}/acme"
    driver = connect(detect({}, driver="github", repo=url, token=forge.token, owner_ok=True))
    for name in ("cml-orphan", "build-box"):
        driver.runner_registration(name=name, labels=["cml"])
    args = ["--json", "gc", "--state", str(tmp_path), "--cloud", "ssh", "--driver", "github"]
    args += ["--repo", url, "--token", forge.token]
    report = json.loads(cli(*args).stdout)
    assert [(f["kind"], f["name"]) for f in report["findings"]] == [("orphan-runner", "cml-orphan")]
    fixed = cli(*args, "--yes")
    assert json.loads(fixed.stdout)["fixed"] == 1, fixed.stderr
    assert [r.name for r in org.runners.values()] == ["build-box"]
    assert json.loads(cli(*args).stdout)["findings"] == []


def test_gc_never_removes_an_online_or_busy_runner_it_has_no_record_of(
    cli, forge, tmp_path
) -> None:
    """A CI job's registry is usually empty: the organization's pool then holds other teams'
    cmlinfra runners, working right now. gc leaves online or busy ones, says which, and
    removes only the offline, idle one."""
    org = forge.state.add_owner("github", "acme")
    from cmlinfra.forges import connect
    from cmlinfra.forges.context import detect

    url = f"{forge.url}/acme"
    driver = connect(detect({}, driver="github", repo=url, token=forge.token, owner_ok=True))
    for name in ("cml-teamb-busy", "cml-teamb-idle", "cml-dead"):
        driver.runner_registration(name=name, labels=["cml"])
    states = {"cml-teamb-busy": ("online", True), "cml-teamb-idle": ("online", False)}
    for runner in org.runners.values():
        runner.status, runner.busy = states.get(runner.name, ("offline", False))
    args = ["--json", "gc", "--state", str(tmp_path), "--cloud", "ssh", "--driver", "github"]
    args += ["--repo", url, "--token", forge.token, "--yes"]
    report = json.loads(cli(*args).stdout)
    assert [(f["name"], f["status"]) for f in report["findings"]] == [("cml-dead", "fixed")]
    assert sorted(r.name for r in org.runners.values()) == ["cml-teamb-busy", "cml-teamb-idle"]
    skipped = [n for n in report["notes"] if n.startswith("left cml-teamb")]
    assert len(skipped) == 2 and "busy" in skipped[0] + skipped[1]
    text = cli(*args[1:]).stdout  # the plain report says it too
    assert "note: left cml-teamb-busy" in text and "offline, idle" in text


@pytest.mark.lxd
def test_organization_runner_on_lxd_idles_out_and_gc_unregisters_it_at_the_org(
    lifecycle, cli
) -> None:
    """End to end on the real LXD cloud (agent stand-in, as in test_launch_lxd.py): a JIT
    runner in the organization's pool; gc run from the repository's own job finds the
    machine gone and unregisters the runner at the organization, not the repository."""
    from tests.runner.conftest import containers, wait_until

    lc = lifecycle
    org = lc.forge.state.add_owner("github", "acme")
    name = f"{lc.prefix}org"
    args = lc.launch_args(name, "--single", "--idle-timeout", "5s")
    args[args.index("--repo") + 1] = f"{lc.forge.url}/acme"
    result = cli(*args, env=lc.env())
    assert result.returncode == 0, result.stderr[-3000:]
    record = json.loads(result.stdout)
    assert (record["scope"], record["repo"]) == ("organization", f"{lc.forge.url}/acme")
    assert [r.name for r in org.runners.values()] == [name] and lc.runners() == []
    wait_until(lambda: containers(lc.prefix) == [], 120, "the idle container to go")

    report = cli(*lc.gc_args("--yes"), env=lc.env())  # --repo …/acme/ml: the repository
    assert report.returncode == 0, report.stderr
    findings = json.loads(report.stdout)["findings"]
    assert [(f["kind"], f["status"]) for f in findings] == [("machine-gone", "fixed")]
    assert org.runners == {} and open_store(lc.state).names() == []
