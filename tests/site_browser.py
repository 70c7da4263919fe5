"""What the two browser tests share (``test_site.py``, ``test_site_explorers.py``): where the built site is,
how it is served on 127.0.0.1, and how Debian's headless Chromium is started with Selenium, offline.

The ``site_url`` fixture (``tests/conftest.py``) skips both tests, with the reason, when there is no built site
or no Chromium/chromedriver/Selenium, so that ``python -m pytest`` works on a fresh clone;
``SCHED_LIB_SITE_TEST=required`` (CI) makes that a failure.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "_build" / "html"
SHOTS = SITE / "_screenshots"
REQUIRED = os.environ.get("SCHED_LIB_SITE_TEST", "").lower() == "required"
CHROMIUM = os.environ.get("CHROMIUM_BIN") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = os.environ.get("CHROMEDRIVER_BIN") or shutil.which("chromedriver") or "/usr/bin/chromedriver"
# The flags a root, offline, display-less machine needs; a window size and a fresh --user-data-dir are added.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)
TIMEOUT = 30  # seconds for one page load or one script


def skip_reason() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not (SITE / "index.html").is_file():
        return f"no built site at {SITE.relative_to(ROOT)}: run `jupyter-book build .` first"
    for name, path in (("chromium", CHROMIUM), ("chromedriver", CHROMEDRIVER)):
        if not Path(path).is_file():
            return f"{name} not found (apt-get install chromium chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install selenium)"
    return None


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@contextlib.contextmanager
def serve_site():
    """Serve the built site on a free port of 127.0.0.1; yields its URL."""
    handler = functools.partial(_QuietHandler, directory=str(SITE))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def chromium(profile_dir: Path, window: tuple[int, int], logging_prefs: dict[str, str]):
    """A headless Chromium driven by Selenium, with an explicit driver and browser (Selenium Manager is
    never asked to download anything); yields the driver and quits it afterwards."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*CHROMIUM_FLAGS, f"--window-size={window[0]},{window[1]}", f"--user-data-dir={profile_dir}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", logging_prefs)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(TIMEOUT)
    driver.set_script_timeout(TIMEOUT)
    SHOTS.mkdir(exist_ok=True)
    try:
        yield driver
    finally:
        driver.quit()

