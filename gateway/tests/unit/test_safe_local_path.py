"""The language switch's redirect target check."""

import pytest
from gateway.pages.views import safe_local_path


@pytest.mark.parametrize("target", ["/", "/accedi", "/accedi?x=1", "/a/b#c"])
def test_paths_on_this_site_are_kept(target):
    assert safe_local_path(target) == target


@pytest.mark.parametrize(
    "target",
    [
        None,
        "",
        "https://evil.example/",
        "//evil.example",
        "/\\evil.example",
        "/\tevil",
        "javascript:alert(1)",
        "accedi",
        "http:/evil.example",
    ],
)
def test_anything_that_could_leave_the_site_becomes_the_home_page(target):
    assert safe_local_path(target) == "/"
