"""Debian's Chromium driven through Selenium, for the browser tests (tests/test_browser.py, test_browser_passkeys.py):
where it is, the skip mark used where it is not installed, and a headless driver with a throwaway profile."""
import contextlib
import shutil
import tempfile

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
# Skipped, saying why, only where no Chromium is installed; CI installs it and fails on any skip in its MySQL pass.
NEEDS_CHROMIUM = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="no Chromium here: apt-get install chromium chromium-driver (.ci/run does) to run the browser test")


@contextlib.contextmanager
def headless_chromium(window_size="1280,2000"):
    """A Selenium WebDriver on headless Chromium with its own temporary profile (removed on exit), no sandbox (CI
    runs as root), and none of Chromium's own network traffic (updates, sync, QUIC). `window_size`: "width,height"
    in pixels."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="gatehouse-chromium-")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", f"--window-size={window_size}", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
