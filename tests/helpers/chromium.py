"""A page as a person sees it: headless Chromium driven over its DevTools pipe (no network,
no extra package): computed styles and positions from the rendered page, and a screenshot."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from pathlib import Path

from helpers.programs import need


class Browser:
    def __init__(self, profile_dir: Path):
        need("chromium", root=False)
        cmd_r, cmd_w = os.pipe()   # we write commands, Chromium reads them on fd 3
        out_r, out_w = os.pipe()   # Chromium writes answers on fd 4

        def fds():
            os.dup2(cmd_r, 3)
            os.dup2(out_w, 4)
        self.proc = subprocess.Popen(
            [shutil.which("chromium"), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--remote-debugging-pipe", f"--user-data-dir={profile_dir}", "--hide-scrollbars", "about:blank"],
            preexec_fn=fds, close_fds=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(cmd_r)
        os.close(out_w)
        self.w, self.r = os.fdopen(cmd_w, "wb"), os.fdopen(out_r, "rb")
        self.next_id, self.buf = 0, b""

    def call(self, method: str, session: str | None = None, **params):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        self.w.write(json.dumps(msg).encode() + b"\0")
        self.w.flush()
        while True:
            while b"\0" not in self.buf:
                chunk = os.read(self.r.fileno(), 1 << 16)
                if not chunk:
                    raise RuntimeError("chromium closed its DevTools pipe")
                self.buf += chunk
            raw, self.buf = self.buf.split(b"\0", 1)
            answer = json.loads(raw)
            if answer.get("id") == self.next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer.get("result", {})

    def open(self, uri: str, width: int = 1000, height: int = 1400) -> str:
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.call("Page.enable", session)
        self.call("Emulation.setDeviceMetricsOverride", session, width=width, height=height, deviceScaleFactor=1,
                  mobile=False)
        self.call("Page.navigate", session, url=uri)
        self.evaluate(session, "new Promise(r => document.readyState === 'complete' ? r(1) : "
                               "addEventListener('load', () => r(1)))")
        return session

    def evaluate(self, session: str, expression: str):
        res = self.call("Runtime.evaluate", session, expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in res:
            raise RuntimeError(res["exceptionDetails"])
        return res["result"].get("value")

    def screenshot(self, session: str, path: Path) -> None:
        data = self.call("Page.captureScreenshot", session, format="png", captureBeyondViewport=True)["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except (RuntimeError, OSError):
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def luminance(rgb) -> float:
    def channel(v: float) -> float:
        v = v / 255
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4
    r, g, b = (channel(v) for v in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(fg, bg) -> float:
    a, b = sorted((luminance(fg), luminance(bg)), reverse=True)
    return (a + 0.05) / (b + 0.05)


def saturation(rgb) -> float:
    """HSL saturation (0 grey .. 1 pure colour) and lightness: a tint near white is not saturated."""
    r, g, b = (v / 255 for v in rgb[:3])
    hi, lo = max(r, g, b), min(r, g, b)
    light = (hi + lo) / 2
    if hi == lo:
        return 0.0
    sat = (hi - lo) / (1 - abs(2 * light - 1))
    return sat if light < 0.9 else sat * (1 - light) * 10  # a near-white tint counts as pale
