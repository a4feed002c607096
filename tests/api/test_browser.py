"""The search page in Debian's headless Chromium: seed query, <mark>ed words, "more", "no results", story cards,
the timeline chart, outlets taken from URLs, the time-words note and "more like this".

Needs `chromium` and `chromium-driver` (`make browser`); skipped without them.
"""

from __future__ import annotations

import re
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


def _search(browser, base_url: str, query: str, mode: str = "", stories: bool = True):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select, WebDriverWait

    browser.get(base_url + "/")
    toggle = browser.find_element(By.ID, "stories")
    assert toggle.is_selected()  # stories are the default
    if not stories:
        toggle.click()  # with no query yet, this searches nothing
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

    wait = _search(browser, api_server, SEED_QUERY, stories=False)
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
    # Untitled ECB+ articles are headed by their first words, never by an internal id such as ecb-11_5ecb.
    assert not [t for t in titles if re.fullmatch(r"ecb-\d+_\d+ecb(plus)?", t)], titles
    assert "q=Russia" in browser.current_url and "group=article" in browser.current_url


def test_less_related_results_below_one_divider(browser, api_server):
    """The seed answers its query; the ECB+ articles ranked after it fail the relevance test and sit below one
    "Less related" divider, in plain results and in story cards, and a second page adds no second divider."""
    from selenium.webdriver.common.by import By

    for stories in (True, False):
        wait = _search(browser, api_server, SEED_QUERY, stories=stories)
        items = browser.find_elements(By.CSS_SELECTOR, "#results > li")
        kinds = [i.get_attribute("class") for i in items]
        assert kinds[0].startswith("result") and kinds[1] == "divider" and kinds.count("divider") == 1, kinds
        assert items[0].find_element(By.CSS_SELECTOR, "h2 a").text.startswith("Russia Vows")
        divider = items[1]
        assert divider.text.lower() == "less related" and divider.get_attribute("role") == "separator"
        # Under the divider each card says which query words it mentions; above it, none is needed.
        assert not items[0].find_elements(By.CSS_SELECTOR, ".mentions")
        assert all(i.find_element(By.CSS_SELECTOR, ".mentions").text.startswith("Mentions ") for i in items[2:])
        assert browser.find_element(By.ID, "status").text.startswith("10 stories" if stories else "10 results")
        ARTIFACTS.mkdir(exist_ok=True)
        browser.save_screenshot(str(ARTIFACTS / f"browser-less-related{'-stories' if stories else ''}.png"))
    browser.find_element(By.ID, "more").click()
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#results > li.result")) > 10)
    assert len(browser.find_elements(By.CSS_SELECTOR, "#results > li.divider")) == 1


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


def test_story_cards_expand_and_timeline(browser, api_server):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get_log("browser")  # drop earlier tests' console messages
    wait = _search(browser, api_server, "Lindsay Lohan rehab")
    cards = browser.find_elements(By.CSS_SELECTOR, "#results > li.result.story")
    assert cards, browser.find_element(By.ID, "status").text
    first = cards[0]
    assert "Lohan" in first.find_element(By.CSS_SELECTOR, "h2 a").text
    # "7 outlets · 12 articles · 3–5 May 2013", unknown parts left out (ECB+ outlets are taken from the URLs).
    line = first.find_element(By.CSS_SELECTOR, "p.meta").text
    assert re.fullmatch(r"(\d+ outlets · |[^·]+ · )?(\d+) articles · \d+(–\d+)? May 2013", line), line
    assert first.find_elements(By.CSS_SELECTOR, "p.passage mark")
    toggle = first.find_element(By.CSS_SELECTOR, "button.story-toggle")
    count = int(re.fullmatch(r"Show the (\d+) articles", toggle.text).group(1))
    assert f"{count} articles" in line
    toggle.click()
    wait.until(lambda d: first.find_elements(By.CSS_SELECTOR, "ol.story-articles > li"))
    items = first.find_elements(By.CSS_SELECTOR, "ol.story-articles > li")
    assert len(items) == count and toggle.text == "Hide the articles"
    dates = [e.text for e in first.find_elements(By.CSS_SELECTOR, "ol.story-articles .date")]
    assert dates and dates == sorted(dates), dates  # time order
    assert all(i.find_element(By.TAG_NAME, "a").text for i in items)
    assert first.find_elements(By.CSS_SELECTOR, "ol.story-articles p.sentence")

    # The timeline over the same query: bars for the dated matches (May and June 2013), a caption.
    WebDriverWait(browser, 60).until(lambda d: d.find_element(By.ID, "timeline").is_displayed())
    bars = browser.find_elements(By.CSS_SELECTOR, "#timeline svg rect.bar")
    assert bars
    tips = [b.find_element(By.TAG_NAME, "title").get_attribute("textContent") for b in bars]
    assert all(re.match(r"2013-0[56]-\d\d: \d+ articles?", t) for t in tips), tips
    labels = [t.text for t in browser.find_elements(By.CSS_SELECTOR, "#timeline svg text")]
    assert labels[-2].startswith("2013-05") and labels[-1].startswith("2013-06"), labels
    caption = browser.find_element(By.ID, "timeline-caption").text
    assert re.match(r"\d+ matching articles over time \(\d+ undated\)", caption), caption
    assert browser.find_element(By.CSS_SELECTOR, "#timeline svg").size["height"] <= 130
    bars[0].click()
    assert "Lohan" in browser.find_element(By.ID, "timeline-top").text
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "browser-stories.png"))
    browser.find_element(By.ID, "timeline").screenshot(str(ARTIFACTS / "browser-timeline.png"))
    # Nothing refused by the page's Content-Security-Policy, no script error.
    errors = [e["message"] for e in browser.get_log("browser")
              if e["level"] == "SEVERE" and "favicon.ico" not in e["message"]]
    assert not errors, errors


def test_an_outlet_taken_from_the_url_is_lighter_with_a_tooltip(browser, api_server):
    from selenium.webdriver.common.by import By

    _search(browser, api_server, "Lindsay Lohan checks into court-ordered rehab", stories=False)
    derived = browser.find_elements(By.CSS_SELECTOR, "#results > li.result p.meta .source.derived")
    assert "etonline.com" in [d.text for d in derived], browser.find_element(By.ID, "status").text
    assert all(d.get_attribute("title") == "outlet taken from the URL" for d in derived)
    line = derived[0].find_element(By.XPATH, "..")
    assert derived[0].value_of_css_property("color") != line.value_of_css_property("color")
    assert derived[0].value_of_css_property("font-style") == "italic"
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "browser-derived-outlet.png"))


def test_time_words_note_and_toggle(browser, api_server):
    from selenium.webdriver.common.by import By

    wait = _search(browser, api_server, "Lindsay Lohan rehab in May 2013")
    note = browser.find_element(By.ID, "interpreted")
    assert note.is_displayed()
    assert note.text == ("Reading “in May 2013” as 2013-05-01 – 2013-05-31; "
                         "searching for “Lindsay Lohan rehab”")
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "browser-time-words.png"))
    # Switching the toggle off searches again, reading no dates, and says so in the URL.
    browser.find_element(By.ID, "time-words").click()
    wait.until(lambda d: "time_words=false" in d.current_url
               and not d.find_element(By.ID, "interpreted").is_displayed())

    # A query that is only a time phrase: the server's explanation in the status line, no chart.
    _search(browser, api_server, "in May 2013")
    status = browser.find_element(By.ID, "status")
    assert "only a time phrase" in status.text and "error" in status.get_attribute("class")
    assert not browser.find_element(By.ID, "timeline").is_displayed()


def test_more_like_this(browser, api_server):
    from selenium.webdriver.common.by import By

    wait = _search(browser, api_server, "Lindsay Lohan rehab")
    first = browser.find_element(By.CSS_SELECTOR, "#results > li.result")
    first.find_element(By.CSS_SELECTOR, "button.similar-toggle").click()
    wait.until(lambda d: first.find_elements(By.CSS_SELECTOR, ".panel.similar li, p.panel"))
    items = first.find_elements(By.CSS_SELECTOR, "ul.similar > li")
    assert 1 <= len(items) <= 5
    assert all(i.find_element(By.TAG_NAME, "a").text for i in items)
    ARTIFACTS.mkdir(exist_ok=True)
    first.screenshot(str(ARTIFACTS / "browser-similar.png"))


def test_timeline_interval_widens_with_the_span(browser, api_server):
    """Day first; a 422 naming a wider interval, or a span over 60 days, asks again by week, then month."""
    browser.get(api_server + "/")
    asked = browser.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const asked = [];
        const reply = (status, body) => new Response(JSON.stringify(body), { status });
        const bucket = (start, end, count) => ({ start, end, count, by_source: {}, top: null });
        window.fetch = async (url) => {
          const interval = new URL(url, location.href).searchParams.get("interval");
          asked.push(interval);
          const wider = "the matches span 2000 days: use interval=week or interval=month";
          if (interval === "day") return reply(422, { detail: wider });
          const buckets = [bucket("2008-12-01", "2008-12-07", 3), bucket("2013-06-10", "2013-06-16", 1)];
          return reply(200, { interval, matched: 4, undated: 0, capped: false, buckets });
        };
        fetchTimeline("q", true).then((body) => done([asked, body.interval]), (e) => done(String(e)));
    """)
    assert asked == [["day", "week", "month"], "month"]


def test_save_this_search_lists_it_with_unread_count_and_feed(browser, write_server):
    """With the write key typed in, "Save this search" saves the query; the list shows it with its unread
    count and an Atom feed link; a matching article indexed afterwards shows as 1 new, and "show" lists it."""
    import httpx
    from selenium.webdriver.common.by import By

    from tests.api.conftest import API_KEY

    wait = _search(browser, write_server, "Quokkas overran the harbour ferry terminal", stories=False)
    browser.find_element(By.ID, "api-key").send_keys(API_KEY)
    browser.find_element(By.ID, "save-search").click()
    wait.until(lambda d: d.find_element(By.ID, "save-status").text.startswith("Saved"))
    item = wait.until(lambda d: next((li for li in d.find_elements(By.CSS_SELECTOR, "#saved-list li.saved")
                                      if "Quokkas" in li.text), None))
    assert "0 new of 0 matches" in item.text
    feed = item.find_element(By.CSS_SELECTOR, "a.feed").get_attribute("href")
    assert "/feed.atom?token=" in feed and httpx.get(feed).status_code == 200

    answer = httpx.post(f"{write_server}/articles", headers={"Authorization": f"Bearer {API_KEY}"}, json=[{
        "id": "quokka-ferry", "title": "Quokkas overran the harbour ferry terminal",
        "text": "Quokkas overran the harbour ferry terminal on Tuesday morning. Officials said the marsupials had "
                "come ashore from a cargo ship.", "url": "https://www.example-news.org/quokkas"}])
    assert answer.status_code == 200, answer.text
    browser.refresh()
    item = wait.until(lambda d: next((li for li in d.find_elements(By.CSS_SELECTOR, "#saved-list li.saved")
                                      if "Quokkas" in li.text and "1 new" in li.text), None))
    item.find_element(By.CSS_SELECTOR, "button.show-matches").click()
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#saved-matches li.match"))
    match = browser.find_element(By.CSS_SELECTOR, "#saved-matches li.match")
    assert "Quokkas overran" in match.text and "example-news.org" in match.text
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "browser-saved-searches.png"))
    wait.until(lambda d: any("0 new of 1 match" in li.text for li in d.find_elements(By.CSS_SELECTOR,
                                                                                    "#saved-list li.saved")))


def test_facet_chips_narrow_to_articles_naming_someone(browser, api_server):
    """People, organisations and places chips under the query; "Tara Reid" narrows the results to articles
    that name her (each checked through the API) and shows as chosen; × widens again."""
    import httpx
    from selenium.webdriver.common.by import By

    wait = _search(browser, api_server, "Lindsay Lohan rehab", stories=False)
    people = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#facets [data-kind=people] button.chip"))
    assert any(chip.text.startswith("Lindsay Lohan") for chip in people), [chip.text for chip in people]
    reid = next(chip for chip in people if chip.text.startswith("Tara Reid"))
    reid.click()
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#facets button.chip.chosen"))
    wait.until(lambda d: d.find_element(By.ID, "status").text not in ("", "Searching…"))
    ids = [li.get_attribute("data-id") for li in browser.find_elements(By.CSS_SELECTOR, "#results > li.result")]
    assert ids and all(ids)
    for article_id in ids:
        named = {e["name"] for e in httpx.get(f"{api_server}/articles/{article_id}").json()["entities"]}
        assert "Tara Reid" in named, (article_id, named)
    assert "entity=Tara+Reid" in browser.current_url
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "browser-facets.png"))
    browser.find_element(By.CSS_SELECTOR, "#facets button.chip.chosen").click()
    wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, "#facets button.chip.chosen"))
