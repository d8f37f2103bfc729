"""API calls and time for a report update with 5 images, against the fake forge server.

Goal: one lookup (list comments), one write (update in place), plus one upload per image.
The fake server validates every call against the forge's OpenAPI description, so the counts
are the calls a real forge would receive; times are loopback times (no network latency) and
mostly measure cmlinfra's own overhead.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from benchmarks.common import Row, Section, median_seconds

ROOT = Path(__file__).resolve().parents[1]
IMAGES = 5


def _report(folder: Path, run: int) -> Path:
    """A report linking 5 images whose content changes with ``run`` (new uploads each time)."""
    lines = ["# Training report", "", f"run {run}", ""]
    for i in range(IMAGES):
        (folder / f"plot{i}.png").write_bytes(b"\x89PNG\r\n\x1a\n" + f"{run}-{i}".encode() * 64)
        lines += [f"## Plot {i}", "", f"![plot {i}](plot{i}.png)", ""]
    path = folder / "report.md"
    path.write_text("\n".join(lines))
    return path


def _update(forge, target, report: Path) -> None:  # type: ignore[no-untyped-def]
    from cmlinfra.forges import comments
    from cmlinfra.forges.publish import publish_images

    text = publish_images(report.read_text(), report.parent, forge.upload_asset)
    comments.post(forge, target, text, update=True)


def _calls(server, forge: str) -> Counter[str]:  # type: ignore[no-untyped-def]
    """Calls by role: uploads (assets), lookups (GETs) and writes (the comment)."""
    kinds: Counter[str] = Counter()
    for call in server.api_calls(forge):
        if any(part in call.path for part in ("/contents/", "/uploads", "/downloads", "/git/")):
            kinds["upload"] += 1
        else:
            kinds["lookup" if call.method == "GET" else "write"] += 1
    return kinds


def run() -> Section:
    sys.path.insert(0, str(ROOT))
    from cmlinfra.forges.base import Target
    from tests.fixtures.forge import ForgeRepo, fake_sha
    from tests.forge_server import ForgeServer

    server = ForgeServer()
    section = Section(
        "Report update with 5 images (fake forge server)",
        "python benchmarks/run.py report_update",
    )
    try:
        for kind, name in (("github", "octo/demo"), ("gitlab", "g/demo"), ("bitbucket", "w/demo")):
            server.reset()
            server.state.add_repo(kind, name)
            repo = ForgeRepo(server, kind, name, fake_sha(kind))
            pr = repo.add_pr()
            forge = repo.driver()
            target = Target("pr", str(pr.number))
            with tempfile.TemporaryDirectory() as tmp:
                folder = Path(tmp)
                _update(forge, target, _report(folder, 0))  # first report: creates the comment
                first = len(server.api_calls(kind))
                server.calls.clear()
                _update(forge, target, _report(folder, 1))  # the steady state
                counts = _calls(server, kind)
                total = len(server.api_calls(kind))
                runs = iter(range(2, 1000))

                def one(forge=forge, target=target, folder=folder, runs=runs) -> None:  # type: ignore[no-untyped-def]
                    _update(forge, target, _report(folder, next(runs)))

                seconds = median_seconds(one)
            assert len(repo.comments()) == 1 and not server.take_violations()
            section.rows += [
                Row(
                    f"{kind}: API calls per update",
                    total,
                    "calls",
                    f"1 lookup + 1 write + {IMAGES} uploads = {2 + IMAGES}",
                    f"lookup {counts['lookup']}, write {counts['write']}, "
                    f"uploads {counts['upload']}",
                ),
                Row(
                    f"{kind}: API calls for the first report",
                    first,
                    "calls",
                    "",
                    "creates the comment (GitHub: also the assets branch)",
                ),
                Row(f"{kind}: update time (loopback)", seconds * 1000, "ms", "", "median of 5"),
            ]

        # end to end through the CLI, PR number known from the CI event (no PR lookup)
        server.reset()
        server.state.add_repo("github", "octo/demo")
        repo = ForgeRepo(server, "github", "octo/demo", fake_sha("cli"))
        pr = repo.add_pr()
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            event = folder / "event.json"
            event.write_text(
                f'{{"pull_request": {{"number": {pr.number}, "head": {{"sha": "{repo.commit}"}}}}}}'
            )
            from tests.fixtures.cli import cli_env

            env = cli_env(repo.env(GITHUB_EVENT_PATH=str(event)))
            samples = []
            for run_no in range(4):
                report = _report(folder, run_no)
                server.calls.clear()
                start = time.perf_counter()
                subprocess.run(
                    [sys.executable, "-m", "cmlinfra", "comment", "update", str(report)],
                    env=env,
                    cwd=folder,
                    check=True,
                    capture_output=True,
                )
                samples.append(time.perf_counter() - start)
            cli_calls = len(server.api_calls())
        section.rows += [
            Row(
                "github CLI `comment update`: API calls",
                cli_calls,
                "calls",
                f"{2 + IMAGES}",
                "PR from the event: no PR lookup",
            ),
            Row(
                "github CLI `comment update`: wall time",
                statistics.median(samples[1:]),
                "s",
                "",
                "includes Python start-up",
            ),
        ]
        section.notes.append(
            "Without a PR number in the CI event (push builds), one more call finds the PR "
            "from the commit. GitHub's first report also creates the orphan `cmlinfra-assets` "
            "branch (3 calls, once per repository)."
        )
    finally:
        server.close()
    return section
