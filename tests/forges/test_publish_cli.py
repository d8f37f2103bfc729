"""``comment create`` publishing through the real CLI against the fake forge: only images the
markdown really shows are uploaded, and a link out of the report's folder posts nothing."""

from __future__ import annotations

from pathlib import Path

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def _report(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "report.md"
    path.write_text(text)
    return path


def test_code_blocks_are_text_and_reference_images_are_uploaded(cli, forge_repo, tmp_path) -> None:
    repo = forge_repo("github")
    repo.add_pr()
    (tmp_path / "loss curve.png").write_bytes(PNG)
    text = (
        "# Report\n\nEmbed a plot with:\n\n```md\n![loss](missing.png)\n```\n\n"
        "![loss][1]\n\n![again](loss%20curve.png)\n\n[1]: <loss curve.png>\n"
    )
    result = cli("comment", "create", str(_report(tmp_path, text)), cwd=tmp_path, env=repo.env())
    assert result.returncode == 0, result.stderr
    body = repo.comments()[0].body
    assert list(repo.state.uploads.values()) == [PNG]  # one file, linked twice
    assert "```md\n![loss](missing.png)\n```" in body
    assert "loss curve.png>" not in body and "loss%20curve.png" not in body
    assert body.count("https://") >= 2


def test_a_link_to_a_runner_file_posts_nothing(cli, forge_repo, tmp_path) -> None:
    repo = forge_repo("github")
    repo.add_pr()
    (tmp_path / "ok.png").write_bytes(PNG)
    report = _report(tmp_path, "# Report\n\n![ok](ok.png)\n\n![b](/etc/hostname)\n")
    result = cli("comment", "create", str(report), cwd=tmp_path, env=repo.env())
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert "/etc/hostname" in result.stderr and "outside its folder" in result.stderr
    assert repo.comments() == [] and repo.state.uploads == {}
