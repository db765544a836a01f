"""A repository's long description as HTML: Markdown rendered, then sanitised.

The Markdown parser is told not to pass raw HTML through, and its output is cleaned again by
an allow-list sanitiser (nh3): a description is text anyone with write access typed, shown to
everyone who may read the repository, so a `<script>` or an `onerror=` must never reach a page.
"""

from __future__ import annotations

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

# CommonMark with tables and strikethrough; "html": False renders a raw tag as text.
_PARSER = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable(
    ["table", "strikethrough"]
)

_TAGS = {
    "a", "p", "br", "hr", "em", "strong", "del", "code", "pre", "blockquote",
    "ul", "ol", "li", "h1", "h2", "h3", "h4", "h5", "h6",
    "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
# No images: the page's CSP loads none from another host, and a broken one helps nobody.
_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}}
# Links to the web or mail only: no javascript:, data: or other schemes.
_SCHEMES = {"http", "https", "mailto"}


def render_markdown(text: str) -> Markup:
    """Safe HTML for a Markdown text (empty for an empty text)."""
    if not text.strip():
        return Markup("")
    html = _PARSER.render(text)
    clean = nh3.clean(
        html,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes=_SCHEMES,
        link_rel="noopener noreferrer nofollow",
    )
    return Markup(clean)
