"""The page filters that keep texts whole: `clip` shortens an error text between words only."""

from __future__ import annotations

from dockyard.ui.render import env

clip = env.filters["clip"]


def test_a_short_text_is_kept_as_it_is() -> None:
    assert clip("connection refused", 60) == "connection refused"
    assert clip(None, 60) == ""


def test_a_long_text_is_cut_after_its_last_whole_word() -> None:
    text = "connect to receiver.example failed: certificate verify failed for the host"
    out = clip(text, 40)
    assert out.endswith("…")
    kept = out.removesuffix("…")
    assert text.startswith(kept) and len(kept) <= 40
    # The cut falls between two words: what follows it in the text is a space.
    assert text[len(kept)] == " "
    assert kept.split()[-1] in text.split()


def test_a_cut_exactly_at_a_space_keeps_the_word_before_it() -> None:
    assert clip("abc defg hij", 8) == "abc defg…"


def test_one_word_longer_than_the_limit_is_kept_whole() -> None:
    word = "https://receiver.example/" + "x" * 80
    assert clip(word + " timed out", 30) == word + "…"
