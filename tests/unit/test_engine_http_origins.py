"""The origin rule: loopback pages of any port, origins named at start, no Origin; nothing else."""

from __future__ import annotations

import pytest

from realtime_nb.engine.origins import OriginPolicy, normalize_origin, origin_allowed

NAMED = OriginPolicy.from_names(["https://Lab.Example.org", "http://notebooks.example.org:8888/"])


@pytest.mark.parametrize(
    "origin",
    [
        None,  # a program (SDK, curl), not a page
        "http://127.0.0.1:8888",
        "http://127.0.0.1:52113",
        "http://localhost:8888",
        "http://localhost",
        "https://localhost:9443",
        "http://[::1]:8888",
        "https://lab.example.org",
        "https://lab.example.org:443",
        "http://notebooks.example.org:8888",
        "HTTP://NOTEBOOKS.EXAMPLE.ORG:8888",
    ],
)
def test_trusted(origin: str | None) -> None:
    assert NAMED.allows(origin)


@pytest.mark.parametrize(
    "origin",
    [
        "null",  # sandboxed frames and file:// pages: any page can produce it
        "https://evil.example.com",
        "http://localhost.evil.example.com",
        "http://127.0.0.1.nip.io:8888",
        "http://lab.example.org",  # the named one is https
        "https://lab.example.org:8443",  # another port
        "http://notebooks.example.org",  # the named one has a port
        "file://",
        "",
        "not an origin",
    ],
)
def test_refused(origin: str) -> None:
    assert not NAMED.allows(origin)


def test_without_names_only_loopback_and_no_origin_pass() -> None:
    assert origin_allowed(None)
    assert origin_allowed("http://127.0.0.1:1")
    assert not origin_allowed("https://lab.example.org")


@pytest.mark.parametrize(
    ("given", "normalized"),
    [
        ("https://Lab.Example.org", "https://lab.example.org"),
        ("https://lab.example.org:443", "https://lab.example.org"),
        ("http://lab.example.org:80/", "http://lab.example.org"),
        ("http://[::1]:8888", "http://[::1]:8888"),
        (" http://localhost:8888 ", "http://localhost:8888"),
    ],
)
def test_names_are_normalized_as_browsers_send_them(given: str, normalized: str) -> None:
    assert normalize_origin(given) == normalized


@pytest.mark.parametrize(
    "bad",
    [
        "lab.example.org",
        "ftp://lab.example.org",
        "https://lab.example.org/lab",
        "https://lab.example.org?x=1",
        "https://user@lab.example.org",
        "https://lab.example.org:99999",
        "*",
    ],
)
def test_a_bad_name_at_start_is_an_error_naming_it(bad: str) -> None:
    with pytest.raises(ValueError, match="not an origin"):
        OriginPolicy.from_names([bad])


def test_a_single_string_is_one_origin_not_its_letters() -> None:
    assert OriginPolicy.from_names("https://lab.example.org").named == {"https://lab.example.org"}
    assert OriginPolicy.from_names(None).named == frozenset()
