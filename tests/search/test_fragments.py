"""Trimming a description fragment to 200 characters keeps marks balanced and entities whole."""

from __future__ import annotations

import re

import pytest

from taskapi.errors import ValidationFailed
from taskapi.search.repository import START, STOP
from taskapi.search.service import check_query, render_fragment


def bare(fragment: str) -> str:
    return fragment.replace("<mark>", "").replace("</mark>", "")


class TestRenderFragment:
    def test_long_fragment_is_cut_to_200_around_the_first_match(self) -> None:
        text = "x" * 150 + " &amp;&lt; " + START + "needle" + STOP + " " + "&gt;y" * 100

        fragment = render_fragment(text)

        assert fragment is not None
        assert len(fragment) <= 200
        assert "<mark>needle</mark>" in fragment
        assert not re.search(r"&[a-z]*$", fragment)  # no entity cut in half at the end
        assert not re.search(r"^[a-z]*;", bare(fragment))  # nor at the start

    def test_match_longer_than_the_budget_is_closed(self) -> None:
        fragment = render_fragment(START + "n" * 300 + STOP + " tail", limit=50)

        assert fragment is not None
        assert len(fragment) <= 50
        assert fragment.startswith("<mark>")
        assert fragment.endswith("</mark>")

    def test_no_match_is_none(self) -> None:
        assert render_fragment("nothing marked here") is None
        assert render_fragment(None) is None
        assert render_fragment("") is None

    def test_several_matches_each_stay_balanced(self) -> None:
        text = " ".join(f"{START}w{i}{STOP} filler" for i in range(60))

        fragment = render_fragment(text)

        assert fragment is not None
        assert len(fragment) <= 200
        assert fragment.count("<mark>") == fragment.count("</mark>")


class TestCheckQuery:
    def test_over_500_characters_is_refused_even_without_the_router(self) -> None:
        with pytest.raises(ValidationFailed):
            check_query("a" * 501)
