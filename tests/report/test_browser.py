"""The report page in a real browser (Debian's headless Chromium, driven by Playwright): it opens, a patient's
details expand, nothing is fetched, nothing is logged as an error, and a screenshot is kept to look at."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from playwright.sync_api import ConsoleMessage, Error, Request, sync_playwright

from matcher.explain import LANGUAGES, text
from matcher.report import render

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
#: screenshots for a person to look at (var/ is not committed)
ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "artifacts"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_page_opens_expands_and_fetches_nothing(night, tmp_path, lang):
    page_file = tmp_path / f"report.{lang}.html"
    page_file.write_bytes(render(night, "html", lang))
    requests: list[str] = []
    errors: list[str] = []
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1600})

            def on_request(r: Request) -> None:
                requests.append(r.url)

            def on_console(m: ConsoleMessage) -> None:
                if m.type == "error":
                    errors.append(m.text)

            def on_error(e: Error) -> None:
                errors.append(str(e))

            page.on("request", on_request)
            page.on("console", on_console)
            page.on("pageerror", on_error)
            page.goto(page_file.as_uri())
            assert page.title().startswith(text("ui.title", lang))
            first = page.locator("details.patient").first
            assert first.evaluate("d => d.open") is False
            first.locator("summary").click()
            assert first.evaluate("d => d.open") is True
            rows = first.locator("table.criteria tbody tr")
            assert rows.count() >= 24 and rows.first.is_visible()
            page.screenshot(path=str(ARTIFACTS / f"report-{lang}.png"))
            first.scroll_into_view_if_needed()
            page.screenshot(path=str(ARTIFACTS / f"report-{lang}-details.png"))
        finally:
            browser.close()
    assert requests == [page_file.as_uri()]  # styles, fonts and charts are in the page: nothing else is fetched
    assert errors == []
