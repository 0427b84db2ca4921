#!/usr/bin/env python3
"""The dashboard page in a real browser: headless Debian Chromium driven by selenium, against a
running stack (scripts/e2e.sh starts one: cargo lambda watch + dynalite + upstream stubs).

Environment: API_URL (the stack), E2E_ADMIN_TOKEN, E2E_LIMITED_API_URL (a stack whose Free quota
is small, for the exhausted month), SCREENSHOT_DIR (default target/dashboard).

Each check prints one line; the first failure stops the run with a non-zero exit.
"""
from __future__ import annotations

import json
import os
import time
import secrets
import sys
import urllib.error
import urllib.request
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

API = os.environ["API_URL"].rstrip("/")
LIMITED_API = os.environ.get("E2E_LIMITED_API_URL", "").rstrip("/")
ADMIN = os.environ["E2E_ADMIN_TOKEN"]
SHOTS = Path(os.environ.get("SCREENSHOT_DIR", "target/dashboard"))
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
# Recorded before any page script runs (DevTools injection is not subject to the page's CSP).
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation',
  (e) => window.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));
"""


def ok(message: str) -> None:
    print(f"[browser] ok   {message}", flush=True)


def fail(message: str) -> None:
    print(f"[browser] FAIL {message}", flush=True)
    sys.exit(1)


def check(condition: bool, message: str) -> None:
    if not condition:
        fail(message)
    ok(message)


def call(method: str, url: str, body: dict | None = None, key: str | None = None,
         admin: bool = False) -> tuple[int, dict, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if key:
        request.add_header("X-API-Key", key)
    if admin:
        request.add_header("Authorization", f"Bearer {ADMIN}")
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            text = response.read().decode()
            return response.status, dict(response.headers), json.loads(text) if text.startswith("{") else {}
    except urllib.error.HTTPError as error:
        text = error.read().decode()
        return error.code, dict(error.headers), json.loads(text) if text.startswith("{") else {}


def new_key(base: str, tier: str, name: str) -> tuple[str, str]:
    user = f"browser-{tier}-{secrets.token_hex(4)}"
    status, _, body = call("POST", f"{base}/api/v1/keys", {"userId": user, "tier": tier, "name": name}, admin=True)
    if status != 201:
        fail(f"admin could not create a {tier} key: {status} {body}")
    return body["key"], body["id"]


def metered(base: str, key: str, query: str = "quantum") -> int:
    status, _, _ = call("POST", f"{base}/api/v1/data", {"query": query, "sources": "wiki"}, key=key)
    return status


def used(base: str, key: str) -> int:
    status, _, body = call("GET", f"{base}/api/v1/usage?action=current", key=key)
    if status != 200:
        fail(f"usage current answered {status} {body}")
    return body["used"]


def browser() -> webdriver.Chrome:
    options = Options()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1280,900", "--no-first-run", "--disable-extensions"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORD_VIOLATIONS})
    return driver


class Page:
    def __init__(self, driver: webdriver.Chrome, base: str):
        self.driver, self.base = driver, base

    def open(self) -> None:
        # The first page of a stack may start a usage function process (cargo lambda watch starts
        # them on demand, up to its concurrency), so the first load is given longer; and an answer
        # of the emulator itself while it starts one (problem+json naming httpstatuses.com, a
        # format the product never uses) is loaded again, said aloud, at most a few times.
        deadline = time.monotonic() + 60
        for attempt in range(5):
            self.driver.get(f"{self.base}/dashboard")
            body = self.driver.execute_script("return document.body ? document.body.innerText : ''") or ""
            if "httpstatuses.com" not in body or time.monotonic() > deadline:
                break
            print(f"[browser] the emulator answered {body[:120]!r} while starting a function; loading again",
                  flush=True)
            time.sleep(2 * (attempt + 1))
        self.wait(lambda d: d.find_element(By.ID, "api-key").is_displayed(), "the key prompt shows",
                  seconds=max(5, deadline - time.monotonic()))

    def wait(self, condition, what: str, seconds: float = 15):
        try:
            return WebDriverWait(self.driver, seconds).until(condition)
        except TimeoutException:
            fail(f"timed out waiting until {what}; status: {self.text('status')!r}, "
                 f"login error: {self.text('login-error')!r}; at {self.driver.current_url!r}: "
                 f"{self.driver.execute_script('return document.body ? document.body.innerText.slice(0, 200) : null')!r}")

    def text(self, element_id: str) -> str:
        return self.driver.execute_script(
            "const e = document.getElementById(arguments[0]); return e ? e.textContent : null;", element_id)

    def shown(self, element_id: str) -> bool:
        return self.driver.find_element(By.ID, element_id).is_displayed()

    def sign_in(self, key: str) -> None:
        field = self.driver.find_element(By.ID, "api-key")
        field.clear()
        field.send_keys(key)
        self.driver.find_element(By.CSS_SELECTOR, "#login-form button[type=submit]").click()

    def wait_dashboard(self) -> None:
        self.wait(lambda d: self.shown("dashboard") and self.text("status").startswith("Updated"),
                  "the dashboard shows the data")

    def refresh(self) -> None:
        self.driver.execute_script("document.getElementById('status').textContent = ''")
        self.driver.find_element(By.ID, "refresh").click()
        self.wait_dashboard()

    def console(self) -> list[dict]:
        return self.driver.get_log("browser")

    def violations(self) -> list[str]:
        return self.driver.execute_script("return window.__cspViolations || []")

    def screenshot(self, name: str, width: int) -> Path:
        self.driver.set_window_size(width, 900)
        height = self.driver.execute_script("return document.documentElement.scrollHeight")
        self.driver.set_window_size(width, min(max(height, 600), 4000))
        self.driver.execute_script("window.scrollTo(0, 0)")
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / name
        self.driver.save_screenshot(str(path))
        return path


def severe(entries: list[dict]) -> list[str]:
    return [entry["message"] for entry in entries if entry.get("level") == "SEVERE"]


def main() -> None:
    status, headers, _ = call("GET", f"{API}/dashboard")
    lower = {name.lower(): value for name, value in headers.items()}
    check(status == 200 and lower.get("content-type", "").startswith("text/html"), "GET /dashboard is an HTML page")
    policy = lower.get("content-security-policy", "")
    check("script-src 'sha256-" in policy and "frame-ancestors 'none'" in policy
          and "unsafe-inline" not in policy, f"the page sends a strict CSP ({policy[:60]}…)")
    check(lower.get("x-content-type-options") == "nosniff" and lower.get("referrer-policy") == "no-referrer",
          "nosniff and no-referrer headers")

    # A Pro holder whose key name is hostile markup: it must appear as text, never run.
    hostile_name = '<img src=x onerror="window.__pwned=1">'
    key, key_id = new_key(API, "pro", hostile_name)
    for query in ("quantum", "quantum computing"):
        if metered(API, key, query) != 200:
            fail("a metered request with the new key failed")

    driver = browser()
    try:
        page = Page(driver, API)
        page.open()
        check(severe(page.console()) == [], "the page loads with no console error (favicon included)")
        check(driver.execute_script("return sessionStorage.length") == 0, "nothing is stored before a key is entered")

        page.sign_in(key)
        page.wait_dashboard()
        shown_used = int(page.text("used").replace(",", ""))
        check(shown_used == used(API, key), f"the page shows the API's used count ({shown_used})")
        check(page.text("limit") == "10,000", "the Pro limit is shown")
        check(driver.execute_script("return sessionStorage.getItem('harmonic.apiKey')") == key
              and key not in driver.current_url and driver.get_cookies() == []
              and driver.execute_script("return localStorage.length") == 0,
              "the key is in sessionStorage only (not in the URL, a cookie or localStorage)")
        names = [cell.text for cell in driver.find_elements(By.CSS_SELECTOR, "#keys tbody td:first-child")]
        check(any(hostile_name in name for name in names)
              and driver.execute_script("return window.__pwned === undefined")
              and not driver.find_elements(By.CSS_SELECTOR, "#keys img"),
              "a key name made of markup is shown as text and does not run")
        sources = driver.find_element(By.ID, "sources").text
        check("wikipedia" in sources or "wiki" in sources, "requests by source are listed")
        bars = driver.find_elements(By.CSS_SELECTOR, "#chart rect.bar")
        check(len(bars) >= 1, f"the daily chart has bars ({len(bars)} days)")

        # A metered request made meanwhile appears after Refresh.
        before = used(API, key)
        if metered(API, key) != 200:
            fail("the request made meanwhile failed")
        page.refresh()
        shown_used = int(page.text("used").replace(",", ""))
        first_history = driver.find_element(By.CSS_SELECTOR, "#history tbody tr").text
        check(shown_used == before + 1 == used(API, key) and "POST /api/v1/data" in first_history,
              f"a request made meanwhile appears after Refresh (used {before} -> {shown_used})")

        # Create: the new key is shown once, works, and disappears when dismissed.
        driver.find_element(By.ID, "key-name").send_keys("from the dashboard")
        driver.find_element(By.CSS_SELECTOR, "#create-form button[type=submit]").click()
        page.wait(lambda d: page.shown("new-key") and d.find_element(By.ID, "new-key-value")
                  .get_attribute("value").startswith("hm_"), "the created key is shown")
        created = driver.find_element(By.ID, "new-key-value").get_attribute("value")
        check(used(API, created) == used(API, key), "the key created on the page works for the same user")
        driver.find_element(By.ID, "copy-key").click()
        page.wait(lambda d: page.text("copy-status") != "", "the copy button answers")
        ok(f"copy button: {page.text('copy-status')!r}")
        page.wait_dashboard()
        page.screenshot("dashboard-desktop.png", 1280)
        page.screenshot("dashboard-phone.png", 390)
        overflow = driver.execute_script(
            "return document.documentElement.scrollWidth > document.documentElement.clientWidth")
        check(not overflow, "at a phone width (390 px) the page does not scroll sideways")
        driver.set_window_size(1280, 900)
        driver.find_element(By.ID, "dismiss-key").click()
        check(not page.shown("new-key") and driver.find_element(By.ID, "new-key-value").get_attribute("value") == "",
              "the new key is gone once dismissed")

        # Rotate the key made on the page: a new key is shown once, the old one stops at once.
        created_id = created[3:13]
        row = driver.find_element(By.CSS_SELECTOR, f"#keys tbody tr[data-key-id='{created_id}']")
        row.find_element(By.XPATH, ".//button[text()='Rotate']").click()
        page.wait(lambda d: page.shown("new-key") and d.find_element(By.ID, "new-key-value")
                  .get_attribute("value").startswith("hm_"), "the rotated key is shown")
        rotated = driver.find_element(By.ID, "new-key-value").get_attribute("value")
        old_status, _, _ = call("GET", f"{API}/api/v1/usage?action=current", key=created)
        check(rotated != created and old_status == 401 and used(API, rotated) == used(API, key),
              "rotating shows the new key once; the old key is refused")
        page.wait_dashboard()
        driver.find_element(By.ID, "dismiss-key").click()

        check(severe(page.console()) == [] and page.violations() == [],
              "no console error and no CSP violation while using the page")

        # Revoke the page's own key: back to the prompt with the API's message.
        row = driver.find_element(By.CSS_SELECTOR, f"#keys tbody tr[data-key-id='{key_id}']")
        row.find_element(By.XPATH, ".//button[text()='Revoke']").click()
        WebDriverWait(driver, 5).until(lambda d: d.switch_to.alert)
        driver.switch_to.alert.accept()
        page.wait(lambda d: page.shown("login") and page.text("login-error"), "the prompt returns after revoking")
        _, _, refusal = call("GET", f"{API}/api/v1/usage?action=current", key=key)
        check(page.text("login-error") == refusal.get("error"),
              f"revoking the page's key returns to the prompt with the API's message ({page.text('login-error')!r})")
        check(driver.execute_script("return sessionStorage.length") == 0, "the revoked key is forgotten")

        page.sign_in("hm_not-a-real-key")
        page.wait(lambda d: page.text("login-error") and "not-a-real" not in page.text("login-error"),
                  "a wrong key is refused")
        _, _, refusal = call("GET", f"{API}/api/v1/usage?action=current", key="hm_not-a-real-key")
        check(page.text("login-error") == refusal.get("error"), "a wrong key shows the API's message")

        enterprise, _ = new_key(API, "enterprise", "big customer")
        page.sign_in(enterprise)
        page.wait_dashboard()
        check(page.text("limit") == "unlimited" and not page.shown("gauge"), "Enterprise shows unlimited")

        if LIMITED_API:
            page = Page(driver, LIMITED_API)
            page.open()
            exhausted, _ = new_key(LIMITED_API, "free", "exhausted")
            while metered(LIMITED_API, exhausted) == 200:
                pass
            page.sign_in(exhausted)
            page.wait_dashboard()
            check(page.shown("exceeded") and "429" in page.text("exceeded") and "UTC" in page.text("exceeded"),
                  f"a used-up month shows the 429 notice with its reset ({page.text('exceeded')!r})")

        # The failed requests above are 401s the page itself asked for; anything else is a fault.
        unexpected = [m for m in severe(page.console()) if "status of 401" not in m]
        check(unexpected == [] and page.violations() == [], "no other console error, no CSP violation")

        # The policy is really enforced: an inline script injected now is refused and reported.
        driver.execute_script("const s = document.createElement('script');"
                              "s.textContent = 'window.__injected = 1'; document.body.append(s);")
        page.wait(lambda d: page.violations(), "the injected script is reported")
        check(driver.execute_script("return window.__injected === undefined")
              and any("script-src" in v for v in page.violations()),
              "the CSP refuses an injected inline script")
    finally:
        driver.quit()
    print(f"[browser] screenshots in {SHOTS}/", flush=True)


if __name__ == "__main__":
    main()
