"""Site scripts at the sizes a full import gives them, in Debian's Chromium."""

import pytest

from checkout import ROOT

pytestmark = pytest.mark.browser


def test_extents_of_hundreds_of_thousands_of_values_take_one_pass(page):
    """The range filters and the charts' text alternatives take extents through LB.extentOf: spreading
    200,000 values into Math.min overflowed the call stack and the index never drew."""
    page.set_content("<html><body></body></html>")
    page.add_script_tag(path=str(ROOT / "templates" / "static" / "lb-core.js"))
    values = "Array.from({length: 300000}, (_, i) => (i * 7919) % 300007 - 5)"
    assert page.evaluate(f"() => LB.extentOf({values})") == [
        min((i * 7919) % 300007 - 5 for i in range(300000)),
        max((i * 7919) % 300007 - 5 for i in range(300000)),
    ]
    with pytest.raises(Exception, match="Maximum call stack size exceeded"):  # what the index did before
        page.evaluate(f"() => Math.min(...{values})")
    assert page.problems == []
