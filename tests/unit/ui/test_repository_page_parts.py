"""The pure parts of the repository pages: the long description's Markdown is rendered with
no raw HTML or script through, and the tag page's view of a manifest and an image config
(environment variable names only, lenient about odd documents)."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import pytest

from dockyard.ui.image_details import parse_config, parse_manifest
from dockyard.ui.markdown import render_markdown
from dockyard.ui.render import env


class _Elements(HTMLParser):
    """The elements, attribute names and link targets of an HTML fragment (text is text)."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attributes: list[str] = []
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        for name, value in attrs:
            self.attributes.append(name)
            if name in ("href", "src"):
                self.hrefs.append((value or "").strip().lower())


@pytest.mark.parametrize(
    "text",
    [
        "<script>alert(1)</script>",
        '<img src=x onerror="alert(1)">',
        "[x](javascript:alert(1))",
        "[x](JaVaScRiPt:alert(1))",
        "<a href='javascript:alert(1)'>x</a>",
        '<iframe src="https://example.invalid"></iframe>',
        "![x](https://example.invalid/pixel.png)",
        "<div onmouseover=alert(1)>hover</div>",
        "[x](data:text/html,<script>alert(1)</script>)",
    ],
)
def test_markdown_lets_no_active_content_through(text: str) -> None:
    found = _Elements()
    found.feed(str(render_markdown(text)))
    assert not found.tags & {"script", "img", "iframe", "div", "object", "embed"}, found.tags
    assert not [a for a in found.attributes if a.startswith("on")], found.attributes
    assert all(h.startswith(("https:", "http:", "mailto:")) for h in found.hrefs), found.hrefs


def test_markdown_renders_the_usual_things() -> None:
    html = str(render_markdown("# Title\n\n**bold** `code` [docs](https://example.invalid/x)\n"))
    assert "<h1>Title</h1>" in html
    assert "<strong>bold</strong>" in html and "<code>code</code>" in html
    assert 'href="https://example.invalid/x"' in html and "noopener" in html
    assert str(render_markdown("  \n")) == ""


def test_breakable_escapes_and_adds_break_points() -> None:
    out = str(env.filters["breakable"]("https://a.example/x?y=<b>&z"))
    assert "<b>" not in out and "&lt;b&gt;" in out
    assert out.startswith("https:<wbr>/<wbr>/<wbr>a.<wbr>example")


IMAGE: dict[str, Any] = {
    "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:c"},
    "layers": [
        {
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": "sha256:a",
            "size": 7,
        },
        {"digest": "sha256:b", "size": "not a number"},
        "not a descriptor",
    ],
    "annotations": {"b": "2", "a": 1},
}


def test_parse_manifest_reads_layers_and_annotations_leniently() -> None:
    details = parse_manifest(IMAGE)
    assert details.available and not details.is_index
    assert [(layer.digest, layer.size) for layer in details.layers] == [
        ("sha256:a", 7),
        ("sha256:b", 0),
    ]
    assert details.annotations == {"a": "1", "b": "2"}
    assert details.config_digest == "sha256:c"
    assert not parse_manifest(None).available


def test_parse_manifest_reads_an_index_platforms() -> None:
    index = {
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {
                "digest": "sha256:1",
                "size": 5,
                "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"},
            },
            {"digest": "sha256:2", "size": 6},
        ],
    }
    details = parse_manifest(index)
    assert details.is_index
    assert [p.label for p in details.platforms] == ["linux / arm64/v8", "— / —"]


def test_parse_config_shows_environment_names_never_values() -> None:
    config = parse_config(
        {
            "created": "2026-11-30T10:00:00Z",
            "config": {
                "Env": ["PATH=/usr/bin", "TOKEN=secret", "EMPTY", 3],
                "Entrypoint": ["/app"],
                "Labels": {"k": "v"},
            },
            "history": [{"created_by": "RUN x", "empty_layer": True}, "junk"],
        }
    )
    assert config is not None
    assert config.env_names == ["PATH", "TOKEN", "EMPTY"]
    assert "secret" not in repr(config)
    assert config.entrypoint == ["/app"] and config.labels == {"k": "v"}
    assert [(h.created_by, h.empty_layer) for h in config.history] == [("RUN x", True)]
    assert parse_config({}) is None and parse_config(None) is None
