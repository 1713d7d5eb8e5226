"""/docs in a real browser (Debian's headless Chromium, driven by Playwright): Swagger UI renders every route
from the service's own assets and OpenAPI document, and nothing is fetched from anywhere else."""

from __future__ import annotations

import shutil
from pathlib import Path

from playwright.sync_api import ConsoleMessage, Request, sync_playwright

from matcher.api.app import create_app
from tests.integration.servers import serve_app
from tests.support.auth import DEV_HEADERS, dev_settings

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "artifacts"


def test_swagger_ui_renders_from_the_service_alone(tmp_path):
    requests: list[str] = []
    errors: list[str] = []
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with serve_app(create_app(dev_settings(work_dir=tmp_path))) as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            # the token on every request, as the hospital's authenticating proxy adds it
            context = browser.new_context(extra_http_headers=DEV_HEADERS, viewport={"width": 1280, "height": 1400})
            page = context.new_page()

            def on_request(r: Request) -> None:
                requests.append(r.url)

            def on_console(m: ConsoleMessage) -> None:
                if m.type == "error":
                    errors.append(m.text)

            page.on("request", on_request)
            page.on("console", on_console)
            page.goto(f"{base}/docs")
            page.locator(".opblock").first.wait_for(timeout=15_000)
            paths = page.locator(".opblock-summary-path").all_inner_texts()
            page.screenshot(path=str(ARTIFACTS / "docs.png"))
        finally:
            browser.close()
    assert {"/match", "/patients/{patient_id}/match", "/cds-services"} <= {p.replace("\u200b", "") for p in paths}
    assert requests and all(url.startswith(f"{base}/") for url in requests), requests
    assert f"{base}/openapi.json" in requests
    assert errors == []
