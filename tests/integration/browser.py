"""A tiny Chrome DevTools Protocol client for Debian's headless ``chromium`` (standard library only).

The browser talks over ``--remote-debugging-pipe``: it reads commands on its fd 3 and writes
responses and events on its fd 4, each message JSON followed by a NUL byte. No port is opened.

    with Browser() as browser:
        browser.open("file:///tmp/report.html")
        browser.evaluate("document.title")
        png = browser.screenshot()
        browser.errors()        # console errors, exceptions, error log entries (CSP violations...)

``Browser`` always kills the chromium it started (its whole process group, by its id) and removes
its profile directory, even when a test fails. ``check_page(path)`` is the lab run's one-call check.
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import signal
import struct
import tempfile
import time
import zlib

WIDTH = 1280
HEIGHT = 900


def png_with_text(png, items):
    """``png`` with a tEXt chunk per (keyword, text) of ``items`` after its header (IHDR).

    PNG's own metadata (ISO/IEC 15948 11.3.4.3): Latin-1 text, a keyword of 1 to 79 characters. The
    lab report test labels the screenshot it writes with what it checked (docs/report.png)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR", "not a PNG"
    header_end = 8 + 12 + struct.unpack(">I", png[8:12])[0]
    chunks = b""
    for keyword, text in items:
        assert 1 <= len(keyword) <= 79 and "\0" not in keyword + text
        data = keyword.encode("latin-1") + b"\0" + text.encode("latin-1")
        chunks += struct.pack(">I", len(data)) + b"tEXt" + data + struct.pack(">I", zlib.crc32(b"tEXt" + data) & 0xffffffff)
    return png[:header_end] + chunks + png[header_end:]


def chromium_path():
    """The browser binary: $CHROMIUM, else chromium (Debian) or chromium-browser on PATH; None if none."""
    for name in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


class BrowserError(Exception):
    """The browser did not start, answered with an error, or did not answer in time."""


class Browser:
    def __init__(self, binary=None, timeout=30.0):
        self.binary = binary or chromium_path()
        if not self.binary:
            raise BrowserError("no chromium on PATH (tools/setup.sh installs Debian's chromium)")
        self.timeout = timeout
        self.pid = None
        self.events = []
        self.session = None
        self._next_id = 0
        self._buffer = b""
        self._profile = None

    # -- process -----------------------------------------------------------------------------
    def __enter__(self):
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *_exc):
        self.close()

    def _start(self):
        self._profile = tempfile.mkdtemp(prefix="rock5b-chromium-")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        log = os.open(os.path.join(self._profile, "chromium.log"), os.O_WRONLY | os.O_CREAT, 0o600)
        devnull = os.open(os.devnull, os.O_RDONLY)
        argv = [self.binary, "--headless=new",
                # The CI host and the lab run as root, where chromium refuses to start its sandbox:
                # --no-sandbox is required. The page it opens is our own generated file.
                "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
                "--user-data-dir=%s" % self._profile, "--no-first-run", "--no-default-browser-check",
                "--disable-extensions", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--mute-audio", "--hide-scrollbars", "about:blank"]
        # The pipe ends must be fds 3 and 4 in the browser. Popen(pass_fds=...) keeps an fd under its
        # own number only, so posix_spawn dup2s them into place (every other fd of ours is
        # close-on-exec) and starts the browser in a process group of its own, killed as one.
        actions = [(os.POSIX_SPAWN_DUP2, devnull, 0), (os.POSIX_SPAWN_DUP2, log, 1), (os.POSIX_SPAWN_DUP2, log, 2),
                   (os.POSIX_SPAWN_DUP2, to_browser_r, 3), (os.POSIX_SPAWN_DUP2, from_browser_w, 4)]
        try:
            self.pid = os.posix_spawn(self.binary, argv, dict(os.environ), file_actions=actions, setpgroup=0)
        finally:
            for fd in (to_browser_r, from_browser_w, log, devnull):
                os.close(fd)
        self.send("Browser.getVersion")
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.send(domain + ".enable", session=True)
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": WIDTH, "height": HEIGHT, "deviceScaleFactor": 1, "mobile": False}, session=True)

    def close(self):
        """Ask the browser to quit (it reaps its own helpers), then kill its process group (by the id
        we started it with) whatever happened, and remove its profile."""
        if self.pid and getattr(self, "_to_browser", None) is not None:
            try:
                os.write(self._to_browser, json.dumps({"id": 0, "method": "Browser.close"}).encode() + b"\0")
            except OSError:
                pass
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and os.waitpid(self.pid, os.WNOHANG) == (0, 0):
                time.sleep(0.05)
        for fd in ("_to_browser", "_from_browser"):
            if getattr(self, fd, None) is not None:
                os.close(getattr(self, fd))
                setattr(self, fd, None)
        if self.pid:
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                os.waitpid(self.pid, 0)
            except ChildProcessError:
                pass  # already reaped while it was quitting
            self.pid = None
        if self._profile:
            shutil.rmtree(self._profile, ignore_errors=True)
            self._profile = None

    # -- protocol ----------------------------------------------------------------------------
    def _read_message(self, deadline):
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_browser], [], [], left)[0]:
                raise BrowserError("chromium did not answer within %.0f s" % self.timeout)
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise BrowserError("chromium closed its pipe (see its log in the profile directory)")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method, params=None, session=False):
        """One command; its result (a dict). Events read meanwhile are kept in self.events."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            answer = self._read_message(deadline)
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise BrowserError("%s: %s" % (method, answer["error"]))
                return answer.get("result", {})
            if "method" in answer:
                self.events.append(answer)

    def wait_event(self, method, start=0):
        """The first event named ``method`` at or after self.events[start], reading until it comes."""
        deadline = time.monotonic() + self.timeout
        while True:
            for event in self.events[start:]:
                if event["method"] == method:
                    return event
            start = len(self.events)
            answer = self._read_message(deadline)
            if "method" in answer:
                self.events.append(answer)

    # -- page --------------------------------------------------------------------------------
    def open(self, url):
        """Navigate and wait for the load event; the wall time from navigate to load, in seconds."""
        mark = len(self.events)
        began = time.monotonic()
        result = self.send("Page.navigate", {"url": url}, session=True)
        if result.get("errorText"):
            raise BrowserError("cannot open %s: %s" % (url, result["errorText"]))
        self.wait_event("Page.loadEventFired", mark)
        return time.monotonic() - began

    def evaluate(self, expression):
        """The value of a JS expression in the page (returnByValue); a thrown error raises BrowserError."""
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True}, session=True)
        if "exceptionDetails" in result:
            raise BrowserError("%s: %s" % (expression, result["exceptionDetails"].get("text")))
        return result["result"].get("value")

    def click(self, selector):
        """Click the first element matching a CSS selector (as a user would: element.click())."""
        found = self.evaluate("(function(){var e=document.querySelector(%s); if(!e){return false;} e.click(); return true;}())"
                              % json.dumps(selector))
        if not found:
            raise BrowserError("nothing matches %s" % selector)

    def timing(self):
        """Navigation timing of the open page, in ms from navigation start: domContentLoaded, load."""
        return self.evaluate("(function(){var n=performance.getEntriesByType('navigation')[0];"
                             "return {dom_content_loaded: n.domContentLoadedEventEnd, load: n.loadEventEnd};}())")

    def screenshot(self, full_page=True, max_height=None):
        """A PNG of the page at WIDTH px: the whole page (its top max_height px), or the viewport."""
        params = {"format": "png"}
        if full_page:
            height = self.send("Page.getLayoutMetrics", session=True)["cssContentSize"]["height"]
            params.update(captureBeyondViewport=True,
                          clip={"x": 0, "y": 0, "width": WIDTH, "height": min(height, max_height or height), "scale": 1})
        return base64.b64decode(self.send("Page.captureScreenshot", params, session=True)["data"])

    def console(self):
        """Every console message, exception and log entry so far: [(kind, level, text)]."""
        found = []
        for event in self.events:
            params = event.get("params", {})
            if event["method"] == "Runtime.consoleAPICalled":
                text = " ".join(str(arg.get("value", arg.get("description", ""))) for arg in params.get("args", []))
                found.append(("console", params.get("type"), text))
            elif event["method"] == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails", {})
                found.append(("exception", "error", (details.get("exception") or {}).get("description") or details.get("text")))
            elif event["method"] == "Log.entryAdded":
                entry = params.get("entry", {})
                found.append(("log", entry.get("level"), entry.get("text")))
        return found

    def errors(self):
        return [item for item in self.console() if item[1] in ("error", "assert")]


ROWS_JS = "document.querySelectorAll('#boards tbody tr').length"


def check_page(path, expect_rows=3, max_height=None):
    """Open a report page file: {"console_errors", "rows", "expect_rows", "load_ms", "size_bytes",
    "screenshot" (PNG bytes), "problems" (empty when the page loads cleanly with expect_rows rows)}."""
    with Browser() as browser:
        browser.open("file://" + os.path.abspath(path))
        result = {"rows": browser.evaluate(ROWS_JS), "expect_rows": expect_rows,
                  "load_ms": browser.timing()["load"], "size_bytes": os.path.getsize(path),
                  "screenshot": browser.screenshot(max_height=max_height), "console_errors": browser.errors()}
    result["problems"] = ["%s %s: %s" % item for item in result["console_errors"]]
    if result["rows"] != expect_rows:
        result["problems"].append("%s board rows, expected %s" % (result["rows"], expect_rows))
    return result


def main(argv=None):
    """python tests/integration/browser.py PAGE.html [--rows N] [--png OUT.png] [--height PX]: check a
    report page, write its screenshot, print the figures; exit 1 when check_page found problems."""
    import argparse
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("page")
    parser.add_argument("--rows", type=int, default=3)
    parser.add_argument("--png")
    parser.add_argument("--height", type=int, help="keep only the top PX of the full-page screenshot")
    args = parser.parse_args(argv)
    result = check_page(args.page, args.rows, args.height)
    if args.png:
        with open(args.png, "wb") as handle:
            handle.write(result["screenshot"])
    print("%s: %d rows, load %.0f ms, %d bytes, %d console errors" % (
        args.page, result["rows"], result["load_ms"], result["size_bytes"], len(result["console_errors"])))
    for problem in result["problems"]:
        print("problem: %s" % problem)
    return 1 if result["problems"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
