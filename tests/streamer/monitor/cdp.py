"""Headless Chromium (Debian's package) driven over the Chrome DevTools Protocol with `websockets`:
just enough to load a page, read it, click and type like a user, and take a screenshot."""

from __future__ import annotations

import asyncio
import base64
import itertools
import os
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from devstack.process import stop_process

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--remote-debugging-port=0", "--window-size=1280,900"]


class Page:
    """One tab: `call` a CDP method, `js` evaluates an expression and returns its value."""

    def __init__(self, ws: Any) -> None:
        self.ws, self._ids = ws, itertools.count(1)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        message_id = next(self._ids)
        await self.ws.send(orjson.dumps({"id": message_id, "method": method, "params": params}).decode())
        while True:  # events interleave with answers; we only want ours
            reply = orjson.loads(await asyncio.wait_for(self.ws.recv(), 30))
            if reply.get("id") == message_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply["result"]
                return result

    async def js(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, seconds: float = 20) -> Any:
        deadline, value = time.monotonic() + seconds, None
        while time.monotonic() < deadline:
            value = await self.js(expression)
            if value:
                return value
            await asyncio.sleep(0.2)
        raise AssertionError(f"page: {expression} still {value!r} after {seconds} s")

    async def goto(self, url: str) -> None:
        await self.call("Page.navigate", url=url)

    async def click(self, selector: str) -> None:
        """A real mouse click (pressed and released) at the centre of the element."""
        box = await self.js(f"(() => {{ const e = document.querySelector({orjson.dumps(selector).decode()});"
                            "if (!e) return null; e.scrollIntoView({block: 'center'});"
                            "const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()")
        assert box, f"no element {selector}"
        for kind in ("mousePressed", "mouseReleased"):
            await self.call("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left", clickCount=1)

    async def type(self, text: str) -> None:
        await self.call("Input.insertText", text=text)

    async def fill(self, selector: str, text: str) -> None:
        """Focus the field, clear it and type `text` (for date and select fields, whose typing
        depends on the locale, the value is set and `input`/`change` fired as a user's edit would)."""
        sel = orjson.dumps(selector).decode()
        kind = await self.js(f"(() => {{ const e = document.querySelector({sel}); e.focus();"
                             "return e.tagName === 'SELECT' || ['date', 'datetime-local'].includes(e.type)"
                             " ? 'set' : (e.select ? (e.select(), 'type') : 'type'); })()")
        if kind == "set":
            await self.js(f"(() => {{ const e = document.querySelector({sel}); e.value = {orjson.dumps(text).decode()};"
                          "e.dispatchEvent(new Event('input', {bubbles: true}));"
                          "e.dispatchEvent(new Event('change', {bubbles: true})); })()")
        else:
            await self.js(f"document.querySelector({sel}).value = ''")
            await self.type(text)

    async def viewport(self, width: int, height: int, *, mobile: bool = False) -> None:
        await self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1,
                        mobile=mobile)

    async def text(self, selector: str) -> str:
        value = await self.js(f"document.querySelector({orjson.dumps(selector).decode()})?.textContent ?? ''")
        return str(value)

    async def screenshot(self, full: bool = True) -> bytes:
        """The whole page (`full`), or what the viewport shows."""
        data = await self.call("Page.captureScreenshot", format="png", captureBeyondViewport=full)
        return base64.b64decode(data["data"])


def launch(binary: str, profile: Path) -> subprocess.Popen[bytes]:
    """A Brazilian operator's browser: on Linux Chromium takes its language from LANGUAGE (not
    --lang), so the page's own date fields read dd/mm/aaaa as the operators see them (and as the
    screenshots show); without Debian's chromium-l10n it falls back to en-US."""
    env = {**os.environ, "LANGUAGE": "pt_BR"}
    with (profile.parent / "chromium.log").open("wb") as out:
        return subprocess.Popen([binary, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                                stdout=out, stderr=subprocess.STDOUT, env=env)


@asynccontextmanager
async def chromium(profile: Path) -> AsyncIterator[Page]:
    """Headless Chromium with a fresh profile; yields its first tab."""
    websockets = pytest.importorskip("websockets", reason="pip install websockets (the browser test's CDP client)")
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        if os.environ.get("CI") == "true":  # as tests/test_compose.py: a missing tool fails in CI, never skips
            pytest.fail("chromium is missing in CI: scripts/bootstrap --tests installs it")
        pytest.skip("chromium not found: apt-get install chromium (scripts/bootstrap --tests installs it)")
    log = profile.parent / "chromium.log"
    process = launch(binary, profile)
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not port_file.exists() or not port_file.read_text().strip():
            assert process.poll() is None, f"chromium exited:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, "chromium did not open its DevTools port in 30 s"
            await asyncio.sleep(0.1)
        port = port_file.read_text().split()[0]
        async with httpx.AsyncClient() as client:
            targets = (await client.get(f"http://127.0.0.1:{port}/json/list")).json()
        url = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")
        async with websockets.connect(url, max_size=64 * 1024 * 1024) as ws:
            page = Page(ws)
            await page.call("Page.enable")
            await page.call("Runtime.enable")
            await page.call("Emulation.setDeviceMetricsOverride", width=1280, height=900, deviceScaleFactor=1,
                            mobile=False)
            yield page
    finally:
        stop_process(process, timeout=10)
