#!/usr/bin/env python3
"""The demo page in a real browser: Debian's chromium, headless, driven by selenium 4 through chromedriver.

    python3 Tests/Scripts/browser_test.py http://127.0.0.1:8000 docs/images/demo-cancelled.png

Against a running tether-demo it loads `/`, checks the title, that every link of the page answers 200 and that the
WebSocket echo echoes; clicks the page's abort demo (a `fetch` of /slow/?ms=30000 aborted with an AbortController)
and waits for the page to show the handler cancelled; checks on /stats/ that `cancelled` went up by one and which
reason was counted, and that the page shows a latency in ms; saves a screenshot of that state (1200x900). Its last
line is a JSON summary ("ok": true); on any failure the reason goes to standard error, the last line is
{"ok": false, "error": ...} and the exit status is 1. Every wait is bounded, and the whole run is given up after
`--limit` seconds (120 by default).
"""

import argparse
import concurrent.futures
import json
import math
import os
import signal
import struct
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
WIDTH, HEIGHT = 1200, 900
# What a browser's leaving can be counted as: it closes (FIN) or resets (RST) its connection.
DEPARTURE_REASONS = {"client_closed", "client_reset", "half_closed"}


# Straight to the demo, whatever proxy the environment names.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
# chromedriver's process, killed if the run outlives its limit by far.
SERVICE = None


class Failure(Exception):
    pass


def fail_unless(condition, message):
    if not condition:
        raise Failure(message)


def get(url, timeout=15.0):
    """Status and body of a GET with urllib, within `timeout` seconds."""
    request = urllib.request.Request(url, headers={"Cache-Control": "no-store"})
    try:
        with OPENER.open(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def read_stats(base):
    status, body = get(base + "/stats/", timeout=5.0)
    fail_unless(status == 200, f"/stats/ answered {status}")
    return json.loads(body)


def png_size(path):
    with open(path, "rb") as file:
        head = file.read(24)
    fail_unless(head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG")
    return struct.unpack(">II", head[16:24])


def make_driver():
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    fail_unless(not missing, f"not installed: {', '.join(missing)} (apt-get install -y chromium chromium-driver)")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as error:
        raise Failure(f"the selenium module is missing ({error}): python3 -m pip install selenium")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", f"--window-size={WIDTH},{HEIGHT}",
        "--hide-scrollbars", "--no-first-run", "--disable-extensions", "--disable-background-networking",
        "--no-proxy-server",
    ):
        options.add_argument(argument)
    # The driver and the browser are given: selenium's manager, which would look for them online, is not run.
    global SERVICE
    SERVICE = Service(executable_path=CHROMEDRIVER)
    driver = webdriver.Chrome(options=options, service=SERVICE)
    driver.set_page_load_timeout(20)
    driver.set_script_timeout(20)
    # The viewport, not the window, 1200x900: what the screenshot shows.
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False},
    )
    return driver


def run(base, screenshot, summary):
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        status, _ = get(base + "/", timeout=5.0)
    except OSError as error:
        raise Failure(f"the demo does not answer at {base}/: {error}")
    fail_unless(status == 200, f"the demo answered {status} at {base}/")
    driver = make_driver()
    summary["browser"] = driver.capabilities.get("browserVersion")
    try:
        # The page, and its title.
        driver.get(base + "/")
        summary["title"] = driver.title
        fail_unless(driver.title == "Tether", f"the title is {driver.title!r}, not 'Tether'")

        # Every link answers 200 (/slow/ and /blocking/ take 2 s, /stream/ 5 s: all at once).
        links = driver.execute_script(
            "return Array.from(document.querySelectorAll('a[href]'), (a) => a.href)")
        links = sorted({link.split("#")[0] for link in links})
        fail_unless(links, "the page has no links")
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(links)) as pool:
            statuses = dict(zip(links, pool.map(lambda link: get(link)[0], links)))
        summary["links"] = {urllib.parse.urlsplit(link)._replace(scheme="", netloc="").geturl(): status
                            for link, status in statuses.items()}
        broken = {link: status for link, status in summary["links"].items() if status != 200}
        fail_unless(not broken, f"links that did not answer 200: {broken}")

        # The WebSocket echo still works.
        try:
            WebDriverWait(driver, 10).until(lambda d: d.find_element(By.ID, "state").text == "open")
        except TimeoutException:
            raise Failure(f"the echo WebSocket did not open within 10 s: {driver.find_element(By.ID, 'state').text!r}")
        driver.find_element(By.ID, "message").clear()
        driver.find_element(By.ID, "message").send_keys("browser test")
        driver.find_element(By.CSS_SELECTOR, "#echo button").click()
        try:
            WebDriverWait(driver, 10).until(
                lambda d: "browser test" in [item.text for item in d.find_elements(By.CSS_SELECTOR, "#replies li")])
        except TimeoutException:
            raise Failure("the echo WebSocket did not echo within 10 s")
        summary["echo"] = "browser test"

        # The abort demo: started, aborted, and the server's cancellation seen on /stats/.
        before = read_stats(base)
        state = driver.find_element(By.ID, "abort-state")
        fail_unless(state.get_attribute("data-state") == "idle", f"the demo is not idle: {state.text!r}")
        driver.find_element(By.ID, "abort-start").click()

        def finished(d):
            return d.find_element(By.ID, "abort-state").get_attribute("data-state") in ("cancelled", "timeout", "error")

        try:
            # The page gives up itself after 5 s for the start and 5 s for the cancellation, plus its 1 s of running.
            WebDriverWait(driver, 20, poll_frequency=0.02).until(finished)
        except TimeoutException:
            raise Failure(f"the page showed no outcome within 20 s: {state.text!r}")
        # The page's own record of every state it showed, which a poll from here could miss.
        summary["states"] = (state.get_attribute("data-history") or "").split()
        summary["state_text"] = state.text
        fail_unless(
            state.get_attribute("data-state") == "cancelled",
            f"the page shows {state.get_attribute('data-state')}: {state.text!r}")
        fail_unless(state.text.startswith("cancelled by the server: reason "), f"the state reads {state.text!r}")

        after = read_stats(base)
        summary["before"], summary["after"] = before, after
        fail_unless(
            after["cancelled"] == before["cancelled"] + 1,
            f"/stats/ cancelled went from {before['cancelled']} to {after['cancelled']}, not up by one")
        fail_unless(after["started"] == before["started"] + 1, f"started: {before['started']} -> {after['started']}")
        fail_unless(
            after["completed"] == before["completed"], f"completed: {before['completed']} -> {after['completed']}")
        reasons = {reason: count - before["reasons"].get(reason, 0) for reason, count in after["reasons"].items()
                   if count != before["reasons"].get(reason, 0)}
        summary["server_reasons"] = reasons
        fail_unless(len(reasons) == 1 and list(reasons.values()) == [1], f"reasons counted by the server: {reasons}")
        reason = next(iter(reasons))
        summary["reason"] = reason
        shown_reason = driver.find_element(By.ID, "abort-reason").text
        summary["shown_reason"] = shown_reason
        fail_unless(shown_reason == reason, f"the page shows reason {shown_reason!r}, the server counted {reason!r}")

        latency_text = driver.find_element(By.ID, "abort-latency").text
        try:
            latency = float(latency_text)
        except ValueError:
            raise Failure(f"the latency shown is not a number: {latency_text!r}")
        fail_unless(math.isfinite(latency) and 0 <= latency <= 5000, f"the latency shown is {latency} ms")
        summary["page_latency_ms"] = latency
        fail_unless(f"seen {latency_text} ms after the abort" in state.text, f"the state reads {state.text!r}")
        if driver.find_element(By.ID, "abort-server").is_displayed():
            summary["server_close_to_cancel_us"] = float(driver.find_element(By.ID, "abort-server-latency").text)
        summary["fetch"] = state.get_attribute("data-fetch")
        counters = {name: driver.find_element(By.ID, "stat-" + name.replace("_", "-")).text
                    for name in ("started", "completed", "cancelled", "stream_stopped")}
        fail_unless(
            counters["cancelled"] == str(after["cancelled"]), f"the counters shown: {counters}, /stats/: {after}")
        summary["counters_shown"] = counters

        # The screenshot of that state.
        driver.execute_script("window.scrollTo(0, 0)")
        directory = os.path.dirname(os.path.abspath(screenshot))
        os.makedirs(directory, exist_ok=True)
        fail_unless(driver.save_screenshot(screenshot), f"no screenshot saved to {screenshot}")
        summary["screenshot"] = screenshot
        summary["screenshot_size"] = list(png_size(screenshot))
    finally:
        driver.quit()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("base", help="the demo's base URL, e.g. http://127.0.0.1:8000")
    parser.add_argument("screenshot", help="where to save the PNG of the cancelled state")
    parser.add_argument("--limit", type=float, default=120, help="seconds after which the whole run fails")
    arguments = parser.parse_args()
    base = arguments.base.rstrip("/")
    summary = {"ok": False, "base": base}

    def give_up(signum, frame):
        if signum == signal.SIGALRM and summary.get("gave_up"):
            # Quitting the browser hung too: kill chromedriver (and with it the browser), report, and leave.
            process = getattr(SERVICE, "process", None)
            if process is not None:
                process.kill()
            summary["error"] = f"the run took longer than {arguments.limit:g} s, and quitting the browser 15 s more"
            print(f"browser_test.py: FAILED: {summary['error']}", file=sys.stderr)
            print(json.dumps(summary, sort_keys=True), flush=True)
            os._exit(1)
        summary["gave_up"] = True
        # Another 15 s to quit the browser.
        signal.setitimer(signal.ITIMER_REAL, 15)
        if signum == signal.SIGTERM:
            raise Failure("terminated (SIGTERM)")
        raise Failure(f"the run took longer than {arguments.limit:g} s")

    signal.signal(signal.SIGALRM, give_up)
    # A SIGTERM (the test was cancelled) ends the run through the same path: the browser is quit.
    signal.signal(signal.SIGTERM, give_up)
    signal.setitimer(signal.ITIMER_REAL, arguments.limit)
    started = time.monotonic()
    try:
        run(base, arguments.screenshot, summary)
        summary["ok"] = True
    except Failure as error:
        summary["error"] = str(error)
    except Exception as error:  # selenium's or urllib's own failures: reported the same way, without the stack
        message = getattr(error, "msg", None) or str(error)
        summary["error"] = f"{type(error).__name__}: {message.strip()}"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    summary.pop("gave_up", None)
    summary["seconds"] = round(time.monotonic() - started, 2)
    if not summary["ok"]:
        print(f"browser_test.py: FAILED: {summary['error']}", file=sys.stderr)
    print(json.dumps(summary, sort_keys=True), flush=True)
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
