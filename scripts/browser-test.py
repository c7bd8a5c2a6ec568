#!/usr/bin/env python3
"""The playground in a real browser: headless Chromium driven by Selenium against a running quill-server.

Usage: scripts/browser-test.py --server PATH [--out DIR]
  PATH  a quill-server binary (make test-browser passes the one make test built)
  DIR   where the screenshots go (default .build-test/browser)

Two servers are started on free ports: the bundled character-level model behind an API key, and the tiny GPT-2
fixture (byte-level BPE) without one. Each check prints one line; the exit status is 1 when any failed.
Needs Debian's chromium and chromium-driver, and Selenium (scripts/selenium-venv.sh makes a venv with it).
"""
import argparse
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

KEY = "browser-test-key"
failures = []


def check(name, ok, detail=""):
    print(("ok    " if ok else "FAIL  ") + name + (f"  ({detail})" if detail and not ok else ""), flush=True)
    if not ok:
        failures.append(name)
    return ok


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, binary, checkpoint, log, extra=(), port=None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.binary = binary
        self.log = open(log, "w")
        self.proc = subprocess.Popen([binary, "--checkpoint", checkpoint, "--port", str(self.port), "--threads", "1",
                                      "--log-level", "warning", *extra], stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(300):
            if self.proc.poll() is not None:
                raise SystemExit(f"quill-server exited with {self.proc.returncode}; see {log}")
            try:
                urllib.request.urlopen(self.url + "/health", timeout=1).read()
                return
            except OSError:
                time.sleep(0.1)
        raise SystemExit(f"quill-server did not answer /health within 30 s; see {log}")

    def stop(self):
        if self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,800",
              "--no-first-run", "--disable-extensions", "--disable-background-networking"):
        options.add_argument(a)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=shutil.which("chromedriver") or "/usr/bin/chromedriver")
    return webdriver.Chrome(service=service, options=options)


def viewport(d, width, height, mobile):
    d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                      {"width": width, "height": height, "deviceScaleFactor": 2 if mobile else 1, "mobile": mobile})


def screenshot(d, path, max_height=4000):
    """A PNG of the page from its top, at most max_height CSS pixels of it."""
    d.execute_script("window.scrollTo(0, 0)")
    metrics = d.execute_cdp_cmd("Page.getLayoutMetrics", {})
    width = d.execute_script("return window.innerWidth")
    height = min(metrics["cssContentSize"]["height"], max_height)
    shot = d.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}})
    with open(path, "wb") as f:
        f.write(base64.b64decode(shot["data"]))
    print(f"      screenshot {path}")


def wait(d, script, timeout=20, what=""):
    try:
        return WebDriverWait(d, timeout, poll_frequency=0.05).until(lambda _: d.execute_script(script))
    except TimeoutException:
        return None


def console_errors(d):
    return [e for e in d.get_log("browser") if e["level"] == "SEVERE"]


def no_sideways_scroll(d):
    return d.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")


def set_value(d, element_id, value):
    e = d.find_element(By.ID, element_id)
    e.clear()
    e.send_keys(value)
    return e


def generate_by_keyboard(d, prompt, max_tokens, seed):
    """Type the prompt and settings, then Ctrl+Enter in the prompt box; waits for the last event."""
    d.execute_script("""
      window.__seen = [];   // how many tokens the page showed, each time the output changed
      new MutationObserver(() => { window.__seen.push(document.querySelectorAll('#out .gt').length); })
        .observe(document.getElementById('out'), {childList: true});
    """)
    set_value(d, "max_tokens", str(max_tokens))
    set_value(d, "seed", str(seed))
    box = set_value(d, "prompt", prompt)
    box.send_keys(Keys.CONTROL, Keys.ENTER)
    return wait(d, "return window.quill.done || !document.getElementById('gen-error').hidden", 60)


def desktop(d, server, out):
    viewport(d, 1280, 800, False)
    d.get(server.url + "/")
    check("the page loads with the model's name in its title", "shakespeare-char" in d.title, d.title)

    # Without the key, the API's own message is shown, not swallowed.
    shown = wait(d, "const e = document.getElementById('info-error'); return !e.hidden && e.textContent")
    check("an API error is shown as the server's message", bool(shown) and "a valid API key is required" in shown,
          str(shown))
    errors = console_errors(d)   # the 401 is the browser's own console line; nothing else may be there
    check("before the key, the console has only the 401 of /info",
          all("401" in e["message"] for e in errors), json.dumps(errors))

    key = d.find_element(By.ID, "key")
    key.send_keys(KEY, Keys.TAB)
    card = wait(d, "const c = document.getElementById('card'); return c.children.length > 0 && c.textContent")
    check("with the key, the model card shows name, shape and SHA-256",
          bool(card) and "shakespeare-char" in card and "6 layers × 6 heads" in card and "SHA-256" in card, str(card))
    check("the loss curve is drawn with its axes",
          d.execute_script("return document.querySelectorAll('#loss polyline.train').length === 1 && "
                           "document.querySelectorAll('#loss text').length > 6"))
    check("the error goes away once the key is right", d.find_element(By.ID, "info-error").is_displayed() is False)

    # Keyboard alone: Tab from the prompt reaches Generate.
    d.find_element(By.ID, "prompt").click()
    reached = False
    for _ in range(20):
        d.switch_to.active_element.send_keys(Keys.TAB)
        if d.switch_to.active_element.get_attribute("id") == "go":
            reached = True
            break
    check("Tab from the prompt reaches the Generate button", reached)

    done = generate_by_keyboard(d, "ROMEO:", 200, 7)
    state = d.execute_script("return window.quill")
    error = d.find_element(By.ID, "gen-error").text
    check("generation finishes (Ctrl+Enter in the prompt)", bool(done) and state["done"], error)
    seen = d.execute_script("return window.__seen")
    partial = sorted({n for n in seen if 0 < n < state["tokens"]})
    check("text streamed in: one event per token, shown while the rest was still coming",
          state["events"] == state["tokens"] + 1 and len(partial) >= 3,
          f"events {state['events']}, partial counts {partial[:10]}")
    spans = d.execute_script("""
      return [...document.querySelectorAll('#out .gt')].map(s => [s.textContent, +s.dataset.p,
        getComputedStyle(s).backgroundColor]);""")
    check("every generated token is a shaded span", len(spans) == state["tokens"] == 200, f"{len(spans)} spans")
    probs = [p for _, p, _ in spans]
    check("shading follows probability: sure tokens are clear, unsure ones tinted",
          all(0 <= p <= 1 for p in probs) and min(probs) < 0.5 and
          any(bg.startswith("rgba") and float(bg.split(",")[-1].rstrip(")")) > 0.2 for _, p, bg in spans if p < 0.5),
          str(spans[:5]))
    text = d.find_element(By.ID, "out").text
    check("the output starts with the prompt and has the streamed text", text.startswith("ROMEO:") and len(text) > 150)

    first = d.find_elements(By.CSS_SELECTOR, "#out .gt")[3]
    ActionChains(d).move_to_element(first).perform()
    tip = wait(d, "const t = document.getElementById('tip'); return !t.hidden && t.textContent", 5)
    rows = d.execute_script("return document.querySelectorAll('#tip tr').length")
    check("hovering a token shows its top alternatives with probabilities", bool(tip) and "%" in tip and rows >= 5,
          f"{tip!r}, {rows} rows")
    d.execute_script("document.querySelectorAll('#out .gt')[10].focus()")
    tip2 = wait(d, "const t = document.getElementById('tip'); return !t.hidden && t.textContent", 5)
    check("focusing a token with the keyboard shows its alternatives too", bool(tip2) and tip2 != tip)
    d.switch_to.active_element.send_keys(Keys.ESCAPE)
    check("Escape hides them", d.execute_script("return document.getElementById('tip').hidden"))

    pieces = wait(d, "const p = document.querySelectorAll('#pieces .tok'); return p.length === 6 && p.length")
    check("the prompt's tokens are shown as pieces with ids", bool(pieces) and
          d.find_element(By.CSS_SELECTOR, "#pieces .tok .id").text.isdigit())
    d.find_elements(By.CSS_SELECTOR, "#pieces .tok")[2].click()
    merges = d.find_element(By.ID, "merges").text
    check("choosing a token shows its id and offsets", "characters 2–3" in merges, merges)

    d.find_element(By.ID, "att").click()
    cells = wait(d, "const c = document.querySelectorAll('#grid button.cell'); return c.length === 36 && c.length")
    check("the attention grid has one heatmap per layer and head (6 × 6)", bool(cells))
    cell = d.find_element(By.CSS_SELECTOR, "#grid button.cell[data-layer='2'][data-head='3']")
    cell.send_keys(Keys.ENTER)   # a keyboard user opens a head the same way
    title = wait(d, "const b = document.getElementById('big'); return !b.hidden && document.getElementById('big-title').textContent", 5)
    check("Enter on a heatmap enlarges it", title == "Layer 2, head 3", str(title))
    heat = d.execute_script("const c = document.getElementById('heat'); return [c.width, c.height]")
    check("the enlarged heatmap is drawn with room for token labels on both axes", heat[0] > 6 * 10 and heat[0] == heat[1])
    labels = d.execute_script("return document.querySelectorAll('#headview text').length")
    check("the head view lists every token twice (queries and keys)", labels == 12, str(labels))
    ActionChains(d).move_to_element(d.find_elements(By.CSS_SELECTOR, "#headview text")[4]).perform()
    lines = d.execute_script("return document.querySelectorAll('#headview line').length")
    check("hovering a token shows where it looks (one line per earlier token it attends to)", 1 <= lines <= 5, str(lines))
    d.switch_to.active_element.send_keys(Keys.ESCAPE)
    check("Escape closes the enlarged head and gives focus back to its heatmap",
          d.execute_script("return document.getElementById('big').hidden && "
                           "document.activeElement.dataset.layer === '2' && document.activeElement.dataset.head === '3'"))
    d.find_element(By.CSS_SELECTOR, "#grid button.cell[data-layer='0'][data-head='1']").click()

    width = no_sideways_scroll(d)
    check("at 1280 × 800 nothing scrolls sideways", width[0] <= width[1], str(width))
    check("favicon and files come from this server only", d.execute_script(
        "return performance.getEntriesByType('resource').every(e => e.name.startsWith(location.origin))"))
    with urllib.request.urlopen(server.url + "/favicon.ico") as r:
        body = r.read()
        check("/favicon.ico is an icon", r.status == 200 and r.headers["Content-Type"] == "image/x-icon" and body[:4] == b"\0\0\1\0")
    screenshot(d, os.path.join(out, "playground-desktop.png"))

    d.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
    time.sleep(0.3)
    bg = d.execute_script("return getComputedStyle(document.body).backgroundColor")
    rgb = [int(x) for x in bg[bg.index("(") + 1:bg.index(")")].split(",")[:3]]
    check("prefers-color-scheme: dark gives a dark page", sum(rgb) < 150, bg)
    screenshot(d, os.path.join(out, "playground-dark.png"), max_height=800)
    d.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "light"}]})

    errors = console_errors(d)
    check("the console has no errors", not errors, json.dumps(errors))

    # Phone width: the same page, reloaded at 390 × 844.
    viewport(d, 390, 844, True)
    d.get(server.url + "/")   # the key stays in sessionStorage
    wait(d, "return document.getElementById('card').children.length > 0")
    width = no_sideways_scroll(d)
    check("at 390 × 844 nothing scrolls sideways", width[0] <= width[1], str(width))
    covered = d.execute_script("""
      const k = document.getElementById('key'), r = k.getBoundingClientRect();
      return r.width > 100 && r.right <= innerWidth && document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2) === k;""")
    check("at phone width the API-key field is on screen and nothing covers it", covered)
    done = generate_by_keyboard(d, "JULIET:", 120, 3)
    check("generation works at phone width", bool(done) and d.execute_script("return window.quill.tokens") == 120)
    d.find_element(By.ID, "att").click()
    wait(d, "return document.querySelectorAll('#grid button.cell').length === 36")
    d.find_element(By.CSS_SELECTOR, "#grid button.cell[data-layer='1'][data-head='0']").click()
    wait(d, "return !document.getElementById('big').hidden")
    width = no_sideways_scroll(d)
    check("with the attention grid and an enlarged head open, still nothing scrolls sideways", width[0] <= width[1], str(width))
    first = d.find_elements(By.CSS_SELECTOR, "#out .gt")[2]
    ActionChains(d).move_to_element(first).perform()
    tip = d.execute_script("const t = document.getElementById('tip').getBoundingClientRect(); return [t.left, t.right, innerWidth]")
    check("the alternatives box stays inside a phone screen", tip[0] >= 0 and tip[1] <= tip[2], str(tip))
    screenshot(d, os.path.join(out, "playground-phone.png"), max_height=1800)
    errors = console_errors(d)
    check("at phone width the console has no errors", not errors, json.dumps(errors))


def bpe(d, server, out, checkpoint):
    viewport(d, 1280, 800, False)
    d.get(server.url + "/")
    wait(d, "return document.getElementById('card').children.length > 0")
    prompt = "Hello charmingly"
    request = urllib.request.Request(server.url + "/tokenize", data=json.dumps({"text": prompt}).encode())
    with urllib.request.urlopen(request) as r:
        expected = json.load(r)["tokens"]
    set_value(d, "prompt", prompt)
    n = wait(d, "return [...document.querySelectorAll('#pieces .tok .id')].map(e => +e.textContent).join() === "
             + json.dumps(",".join(map(str, expected))))
    check("a BPE model's prompt is shown as its tokens", bool(n), str(expected))
    d.find_elements(By.CSS_SELECTOR, "#pieces .tok")[-1].click()
    merges = d.execute_script("return [...document.querySelectorAll('#merges tr')].map(r => r.textContent)")
    check("choosing a BPE token shows how its word was merged, step by step",
          len(merges) >= 3 and merges[0].startswith("bytes") and merges[1].startswith("merge 1"), str(merges))
    done = generate_by_keyboard(d, "Hello", 20, 1)
    check("generation with a BPE model finishes", bool(done) and d.execute_script("return window.quill.tokens") == 20)
    check("pieces are shown with spaces, not GPT-2's Ġ",
          "\u0120" not in d.find_element(By.ID, "pieces").text)
    errors = console_errors(d)
    check("with the BPE model the console has no errors", not errors, json.dumps(errors))
    screenshot(d, os.path.join(out, "playground-bpe.png"), max_height=800)

    # The server on this port now serves another checkpoint: the page's next look at /info says so.
    check("no notice while the checkpoint is the same", d.execute_script("return document.getElementById('reloaded').hidden"))
    server.stop()
    other = Server(server.binary, checkpoint, server.log.name + ".2", port=server.port)
    try:
        d.execute_script("window.quill.refresh()")
        notice = wait(d, "const n = document.getElementById('reloaded'); return !n.hidden && n.textContent", 10)
        check("when the server serves a new checkpoint, the page says so", bool(notice) and "shakespeare-char" in notice,
              str(notice))
        card = d.find_element(By.ID, "card").text
        check("and its model card shows the new checkpoint", "shakespeare-char" in card, card)
    finally:
        other.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--server", required=True)
    ap.add_argument("--out", default=".build-test/browser")
    ap.add_argument("--checkpoint", default="checkpoints/shakespeare-char.safetensors")
    ap.add_argument("--bpe", default="Tests/Fixtures/tiny-gpt2")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    started = time.time()
    servers = []
    d = None
    try:
        char = Server(a.server, a.checkpoint, os.path.join(a.out, "server-char.log"), ["--api-key", KEY])
        servers.append(char)
        tiny = Server(a.server, a.bpe, os.path.join(a.out, "server-bpe.log"))
        servers.append(tiny)
        d = browser()
        print(f"      {d.capabilities.get('browserName')} {d.capabilities.get('browserVersion')}")
        desktop(d, char, a.out)
        bpe(d, tiny, a.out, a.checkpoint)
    finally:
        if d:
            d.quit()
        for s in servers:
            s.stop()
    print(f"{'FAILED' if failures else 'passed'}: browser test, {len(failures)} failing, {time.time() - started:.1f} s")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
