"""The search page in Debian's headless Chromium: seed query, <mark>ed words, "more", "no results".

Needs `chromium` and `chromium-driver` (`make browser`); skipped without them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import ROOT, SEED_QUERY

CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = ROOT / "artifacts"

pytestmark = pytest.mark.skipif(not (Path(CHROMEDRIVER).exists() and (shutil.which("chromium"))),
                                reason="needs Debian's chromium and chromium-driver (make browser)")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage",
                "--window-size=1100,1300", f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"):
        options.add_argument(arg)
    options.binary_location = shutil.which("chromium")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def _search(browser, base_url: str, query: str, mode: str = ""):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    browser.get(base_url + "/")
    box = browser.find_element(By.ID, "q")
    box.clear()
    box.send_keys(query)
    Select(browser.find_element(By.ID, "mode")).select_by_value(mode)
    browser.find_element(By.ID, "search-button").click()
    wait = WebDriverWait(browser, 60)
    wait.until(lambda d: d.find_element(By.ID, "status").text not in ("", "Searching…"))
    wait.until(ec.element_to_be_clickable((By.ID, "search-button")))
    return wait


def test_seed_query_first_with_marks_and_more(browser, api_server):
    from selenium.webdriver.common.by import By

    wait = _search(browser, api_server, SEED_QUERY)
    results = browser.find_elements(By.CSS_SELECTOR, "#results > li.result")
    assert len(results) == 10, browser.find_element(By.ID, "status").text
    first = results[0]
    title = first.find_element(By.CSS_SELECTOR, "h2 a")
    assert title.text.startswith("Russia Vows to Develop Equal and Fair Interaction")
    assert title.get_attribute("href").startswith("http")
    marks = first.find_elements(By.CSS_SELECTOR, "p.passage mark")
    assert marks and any(m.text.lower().startswith(("sanction", "russia")) for m in marks)
    assert first.find_element(By.CSS_SELECTOR, ".score").text.startswith("score ")
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "browser-search.png"))

    more = browser.find_element(By.ID, "more")
    assert more.is_displayed()
    more.click()
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#results > li.result")) > 10)
    titles = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#results > li.result h2 a")]
    assert len(titles) == 20 and titles[0].startswith("Russia Vows")
    assert "q=Russia" in browser.current_url


def test_no_results_message(browser, api_server):
    from selenium.webdriver.common.by import By

    _search(browser, api_server, "zzqxjvw qqxxzzy", mode="lexical")
    assert browser.find_elements(By.CSS_SELECTOR, "#results > li") == []
    assert browser.find_element(By.ID, "status").text.startswith("No results")
    assert not browser.find_element(By.ID, "more").is_displayed()


def test_markup_in_data_is_shown_as_text(browser, api_server):
    from selenium.webdriver.common.by import By

    _search(browser, api_server, "<zzqqxx onerror=zzqqyy>", mode="lexical")
    assert "<zzqqxx onerror=zzqqyy>" in browser.find_element(By.ID, "status").text
    assert browser.find_elements(By.TAG_NAME, "zzqqxx") == []
