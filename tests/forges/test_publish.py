"""Finding local images in a report and rewriting their links."""

from __future__ import annotations

import pytest

from cmlinfra.errors import CmlinfraError
from cmlinfra.forges.comments import has_watermark, parse_target, watermark
from cmlinfra.forges.publish import local_images, publish_images


def test_rewrites_markdown_and_html_images_but_not_urls(tmp_path) -> None:
    (tmp_path / "a b.png").write_bytes(b"1")
    (tmp_path / "c.svg").write_bytes(b"2")
    text = (
        '![a](<a b.png>) ![c](./c.svg "title") ![u](https://x.org/u.png) '
        "![d](data:image/png;base64,AAAA) <img src='c.svg'> [link](c.svg)"
    )
    uploaded = []

    def upload(path, mime):
        uploaded.append((path.name, mime))
        return f"https://forge.test/{path.name.replace(' ', '_')}"

    out = publish_images(text, tmp_path, upload)
    assert uploaded == [("a b.png", "image/png"), ("c.svg", "image/svg+xml")]
    assert "![a](https://forge.test/a_b.png)" in out
    assert '![c](https://forge.test/c.svg "title")' in out
    assert "<img src='https://forge.test/c.svg'>" in out
    assert "https://x.org/u.png" in out and "data:image/png" in out
    assert "[link](c.svg)" in out  # a plain link is not an image


def test_missing_images_are_listed(tmp_path) -> None:
    with pytest.raises(CmlinfraError, match=r"a\.png.*b\.png"):
        publish_images("![](a.png) ![](b.png)", tmp_path, lambda p, m: "")
    assert local_images("![](https://x/y.png)", tmp_path) == []


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
