"""Finding the local files of a report (images and links), uploading them as CML does, and
rewriting their links; the MIME type comes from the content."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from cmlinfra.errors import CmlinfraError
from cmlinfra.forges.comments import has_watermark, parse_target, watermark
from cmlinfra.forges.publish import local_images, mime_type, publish_images, sniff

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
SVG = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"></svg>\n'


def test_rewrites_images_links_and_embedded_images_but_not_urls(tmp_path) -> None:
    (tmp_path / "a b.png").write_bytes(PNG)
    (tmp_path / "c.svg").write_bytes(SVG)
    text = (
        '![a](<a b.png>) ![c](./c.svg "title") ![u](https://x.org/u.png) '
        "![d](data:image/png;base64,iVBORw0KGgoAAAAA) <img src='c.svg'> [link](c.svg)"
    )
    uploaded = []

    def upload(path, mime):
        uploaded.append((path.suffix, mime))
        return f"https://forge.test/{path.name.replace(' ', '_')}"

    out = publish_images(text, tmp_path, upload)
    assert uploaded == [(".png", "image/png"), (".svg", "image/svg+xml"), (".png", "image/png")]
    assert "![a](https://forge.test/a_b.png)" in out
    assert '![c](https://forge.test/c.svg "title")' in out
    assert "<img src='https://forge.test/c.svg'>" in out
    assert "https://x.org/u.png" in out and "data:image" not in out  # dvclive's embedded image
    assert "![d](https://forge.test/embedded-" in out
    assert "[link](https://forge.test/c.svg)" in out  # links are published too, as in CML


def test_missing_files_are_left_as_written_with_a_warning(tmp_path, caplog) -> None:
    (tmp_path / "b.png").write_bytes(PNG)
    out = publish_images("![](a.png) ![](b.png) [dir](.)", tmp_path, lambda p, m: "https://u/b")
    assert out == "![](a.png) ![](https://u/b) [dir](.)"
    warned = " ".join(r.getMessage() for r in caplog.records)
    assert "a.png: no such file" in warned and "not a file" in warned
    assert local_images("![](https://x/y.png)", tmp_path) == []


def test_the_type_comes_from_the_content_and_a_lying_name_is_not_uploaded(tmp_path) -> None:
    """A text file named ``plot.png`` is not an image: not uploaded (issue 12, item 8); a CSV is
    a link's file and goes up as text/csv; a PNG named ``.jpg`` goes up as what it is."""
    (tmp_path / "plot.png").write_text("not a picture\n")
    (tmp_path / "data.csv").write_text("a,b\n1,2\n")
    (tmp_path / "photo.jpg").write_bytes(PNG)
    assert (mime_type(tmp_path / "plot.png"), mime_type(tmp_path / "data.csv")) == (
        "text/plain",
        "text/csv",
    )
    assert sniff(b"\x00\x01\x02binary") == "application/octet-stream"
    uploaded: list[tuple[str, str]] = []
    out = publish_images(
        "![p](plot.png) [d](data.csv) ![j](photo.jpg) ![e](data:image/png;base64,bm90IGEgcG5n)",
        tmp_path,
        lambda p, m: uploaded.append((p.name, m)) or f"https://u/{p.name}",
    )
    assert uploaded == [("data.csv", "text/csv"), ("photo.jpg", "image/png")]
    assert out.startswith("![p](plot.png) [d](https://u/data.csv) ![j](https://u/photo.jpg)")
    assert out.endswith("![e](data:image/png;base64,bm90IGEgcG5n)")  # "not a png": kept


def test_watermark_cannot_close_the_html_comment() -> None:
    mark = watermark("evil --> <b>")
    assert mark.count("-->") == 1 and mark.endswith("-->")
    assert has_watermark(f"body\n\n{mark}", "evil --> <b>")
    assert not has_watermark(f"body\n\n{watermark('other')}", "evil --> <b>")
    assert not has_watermark("mentions <!-- cmlinfra:watermark --> inline", "")


@pytest.mark.parametrize("spec", ["issue", "pr/x", "tree/1"])
def test_bad_targets(spec) -> None:
    with pytest.raises(CmlinfraError):
        parse_target(spec)


def test_images_are_found_by_the_markdown_parser(tmp_path) -> None:
    """Code blocks and code spans are text, reference-style images are images, and
    %-escapes are decoded: what a forge renders is what is published."""
    (tmp_path / "plot.png").write_bytes(PNG)
    (tmp_path / "p q.png").write_bytes(PNG + b"2")
    (tmp_path / "t.png").write_bytes(PNG + b"3")
    text = (
        "```\n![x](nope.png)\n```\n\n    ![i](indented.png)\n\n"
        "See `![y](span.png)` and ![r][plot] and ![p](p%20q.png).\n\n"
        "> | a |\n> |---|\n> | ![t](t.png) |\n\n"
        '[plot]: <plot.png> "Loss"\n'
    )
    assert local_images(text, tmp_path) == [
        tmp_path.resolve() / "plot.png",
        tmp_path.resolve() / "p q.png",
        tmp_path.resolve() / "t.png",
    ]
    out = publish_images(text, tmp_path, lambda p, m: f"https://forge.test/{p.name[0]}")
    assert out.startswith("```\n![x](nope.png)\n```\n\n    ![i](indented.png)\n\n")
    assert "`![y](span.png)`" in out and "![r][plot]" in out
    assert "![p](https://forge.test/p)" in out and "| ![t](https://forge.test/t) |" in out
    assert out.endswith('[plot]: https://forge.test/p "Loss"\n')
    assert out.count("\n") == text.count("\n")


def _git_repo(root: Path) -> Path:
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root / "reports").mkdir()
    return root / "reports"


@pytest.mark.parametrize(
    ("link", "problem"),
    [
        ("/etc/hostname", "outside its folder and repository"),
        ("../../outside.png", "outside its folder and repository"),
        ("escape.png", "outside its folder and repository"),  # a symlink out of the repo
        ("../../secret.txt", "outside its folder and repository"),  # a link, not an image
    ],
)
def test_only_files_from_the_report_folder_or_repository_are_published(
    tmp_path, link, problem
) -> None:
    folder = _git_repo(tmp_path / "repo")
    (tmp_path / "outside.png").write_bytes(PNG)
    (tmp_path / "secret.txt").write_text("secret")
    (folder / "escape.png").symlink_to(tmp_path / "outside.png")
    (tmp_path / "repo" / "top.png").write_bytes(PNG)
    uploaded: list[Path] = []
    with pytest.raises(CmlinfraError, match=problem) as raised:
        publish_images(
            f"![ok](../top.png)\n\n[bad]({link})\n",
            folder,
            lambda p, m: uploaded.append(p) or "https://forge.test/x",
            source="r.md",
        )
    assert raised.value.line().startswith("r.md links") and uploaded == []
    # the same report without the bad link: an image elsewhere in the repository is fine
    out = publish_images("![ok](../top.png)\n", folder, lambda p, m: "https://forge.test/t")
    assert out == "![ok](https://forge.test/t)\n"


def test_outside_a_repository_only_the_report_folder_is_allowed(tmp_path) -> None:
    (tmp_path / "up.png").write_bytes(PNG)
    (tmp_path / "r").mkdir()
    with pytest.raises(CmlinfraError, match="outside"):
        publish_images("![u](../up.png)", tmp_path / "r", lambda p, m: "")
