"""The shared image-link finder and rewriter (report/links.py) on the markdown corners where a
pattern alone goes wrong; the callers' behaviour is tested in test_markdown, test_cli and
tests/forges/test_publish*."""

from __future__ import annotations

from cmlinfra.report.links import Image, find_images, is_local, replace_images, rewrite_targets

TRICKY = (
    "Escaped: \\![e](escaped.png), but \\\\![b](backslash.png).\n"
    "`![c](code.png)` <!-- ![h](hidden.png) <img src=hidden.png> --> ![p](x(1).png)\n\n"
    "![r][Loss  Curve] ![undefined][nope] <img alt='a &amp; b' src=\"q&amp;r.png\">\n\n"
    "<div>\n<img src='block.png'>\n</div>\n\n"
    '[loss curve]:\n  <loss curve.png> "Loss"\n[other]: other.png\n'
)


def test_found_as_a_forge_renders_them_in_document_order() -> None:
    assert find_images(TRICKY) == [
        Image("backslash.png", "b"),
        Image("x(1).png", "p"),
        Image("loss curve.png", "r"),  # where it is shown, with its definition's target
        Image("q&r.png", "a & b"),  # entities decoded
        Image("block.png", ""),
    ]


def test_rewriting_touches_only_image_targets() -> None:
    seen: list[str] = []

    def new(target: str) -> str | None:
        seen.append(target)
        return None if target == "block.png" else f"new/{target.replace(' ', '%20')}"

    out = rewrite_targets(TRICKY, new)
    assert sorted(seen) == sorted(i.target for i in find_images(TRICKY))
    expected = (
        TRICKY.replace("](backslash.png)", "](new/backslash.png)")
        .replace("](x(1).png)", "](<new/x(1).png>)")  # parentheses need the <> form
        .replace('src="q&amp;r.png"', 'src="new/q&amp;r.png"')
        .replace('<loss curve.png> "Loss"', 'new/loss%20curve.png "Loss"')
    )
    assert out == expected  # everything else byte for byte, "[other]" included


def test_replacing_images_keeps_the_definitions_and_remote_images() -> None:
    text = TRICKY + "\n![web](https://example.com/w.png)\n"
    out = replace_images(text, lambda i: f"<{i.alt}>" if is_local(i.target) else None)
    assert "but \\\\<b>." in out and "<p>\n\n<r> ![undefined][nope] <a & b>" in out
    assert "<div>\n<>\n</div>" in out and out.endswith("![web](https://example.com/w.png)\n")
    assert '[loss curve]:\n  <loss curve.png> "Loss"\n' in out
    assert "\\![e](escaped.png)" in out and "`![c](code.png)` <!-- ![h](hidden.png)" in out


def test_local_means_no_scheme_and_no_host() -> None:
    assert is_local("a b.png") and is_local("../x.png") and is_local("/abs.png")
    assert not any(map(is_local, ["https://x/y.png", "data:image/png;base64,A", "//h/x", "#a"]))
