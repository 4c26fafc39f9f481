"""The label form's ``back`` never sends the browser off the viewer.

``/\\evil.example`` passed the old check (it starts with one ``/``), and a browser reads
it as ``//evil.example``: another site. A control character would end the header.
"""

from __future__ import annotations

import pytest

from runner.view.handlers import same_site_path


@pytest.mark.parametrize(
    "back",
    ["/\\evil.example/x", "/\\/evil.example", "//evil.example", "https://evil.example", "x",
     "/ok\r\nSet-Cookie: a=b", "/ok\x7f"],
)  # fmt: skip
def test_a_path_off_the_viewer_goes_home(back: str) -> None:
    assert same_site_path(back) == "/"


@pytest.mark.parametrize("back", ["/", "/prompt?experiment=e&key=a%2Fb", "/results?q=%5C"])
def test_a_path_on_the_viewer_is_kept(back: str) -> None:
    assert same_site_path(back) == back
