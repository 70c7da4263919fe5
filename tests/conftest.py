"""Fixtures shared by the test modules in this folder."""

import pytest

from site_browser import REQUIRED, serve_site, skip_reason


@pytest.fixture(scope="module")
def site_url():
    """The built site served on 127.0.0.1 for one browser-test module (``tests/site_browser.py``); skipped
    where it cannot run, a failure under ``SCHED_LIB_SITE_TEST=required`` (CI)."""
    reason = skip_reason()
    if reason:
        (pytest.fail if REQUIRED else pytest.skip)(reason)
    with serve_site() as url:
        yield url
