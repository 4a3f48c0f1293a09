#!/usr/bin/env python3
"""Plays the actor protocol's conformance transcripts (transcripts.json) against every SDK, acting
as the node: each SDK's conformance actor must answer every transcript alike, hostile ones
included (bad frames, wrong versions, oversized frames, results for unknown calls).

Usage: ``python3 sdk/conformance/run.py [SDK ...]`` (SDKs: python, js; default all). Prints one
PASS/FAIL line per SDK and transcript, and exits 1 when any fails.

A transcript is a list of steps: ``send`` a frame (``"$name"`` values are replaced by what an
earlier ``expect`` captured), ``send_raw`` hex bytes, ``expect`` a frame (every key given must
match: ``"~text"`` matches a string containing text, ``"=name"`` matches anything and
captures it), ``close`` the socket, ``expect_exit`` ``zero`` or ``nonzero``. A transcript that
does not end in an exit closes the socket and expects a clean exit: a program ends when its
node closes the socket.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
import time
from typing import Any, Dict, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "python"))

import cbor2  # noqa: E402

from beach import protocol  # noqa: E402

WAIT = 10.0

SDKS: Dict[str, Dict[str, Any]] = {
    "python": {
        "command": [sys.executable, "-u", "-m", "beach.host"],
        "file": os.path.join(HERE, "actor_python.py"),
        "env": {"PYTHONPATH": os.path.join(ROOT, "python")},
    },
    "js": {
        "command": ["node", os.path.join(HERE, "actor_js.js")],
        "file": os.path.join(HERE, "actor_js.js"),
        "env": {},
    },
}


class Mismatch(Exception):
    pass


def matches(expected: Any, actual: Any, captured: Dict[str, Any], path: str = "") -> None:
    if isinstance(expected, str) and expected.startswith("="):
        captured[expected[1:]] = actual
        return
    if isinstance(expected, str) and expected.startswith("~"):
        if not (isinstance(actual, str) and expected[1:] in actual):
            raise Mismatch(f"{path or 'frame'}: {actual!r:.200} does not contain {expected[1:]!r}")
        return
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            raise Mismatch(f"{path or 'frame'}: expected a map, got {actual!r:.200}")
        for k, v in expected.items():
            if k not in actual:
                raise Mismatch(f"{path}.{k} missing in {actual!r:.300}")
            matches(v, actual[k], captured, f"{path}.{k}")
        return
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            raise Mismatch(f"{path}: expected {expected!r}, got {actual!r:.200}")
        for i, (e, a) in enumerate(zip(expected, actual)):
            matches(e, a, captured, f"{path}[{i}]")
        return
    if expected != actual or type(expected) is not type(actual) and not (isinstance(expected, (int, float)) and isinstance(actual, (int, float))):
        raise Mismatch(f"{path or 'frame'}: expected {expected!r}, got {actual!r:.200}")


def substitute(value: Any, captured: Dict[str, Any], sdk: Dict[str, Any]) -> Any:
    if isinstance(value, str) and value == "$FILE":
        return sdk["file"]
    if isinstance(value, str) and value.startswith("$"):
        return captured[value[1:]]
    if isinstance(value, dict):
        return {k: substitute(v, captured, sdk) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, captured, sdk) for v in value]
    return value


def wait_exit(proc: subprocess.Popen, limit: float) -> Optional[int]:
    try:
        return proc.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        return None


def play(sdk: Dict[str, Any], steps: List[Dict[str, Any]]) -> None:
    ours, theirs = socket.socketpair()
    env = dict(os.environ, BEACH_ACTOR_FD=str(theirs.fileno()), **sdk["env"])
    proc = subprocess.Popen(sdk["command"], env=env, cwd=HERE, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, pass_fds=(theirs.fileno(),))
    theirs.close()
    conn = protocol.Connection(ours)
    ours.settimeout(WAIT)
    captured: Dict[str, Any] = {}
    exited = False
    try:
        for step in steps:
            if "send" in step:
                conn.send(substitute(step["send"], captured, sdk))
            elif "send_raw" in step:
                ours.sendall(bytes.fromhex(step["send_raw"]))
            elif "expect" in step:
                try:
                    frame = conn.recv()
                except socket.timeout:
                    raise Mismatch(f"nothing within {WAIT}s; expected {step['expect']}")
                if frame is None:
                    raise Mismatch(f"the program closed its socket; expected {step['expect']}")
                matches(step["expect"], frame, captured)
            elif "close" in step:
                ours.shutdown(socket.SHUT_WR)
            elif "expect_exit" in step:
                code = wait_exit(proc, WAIT)
                exited = True
                if code is None:
                    raise Mismatch(f"the program did not exit within {WAIT}s")
                if (code == 0) != (step["expect_exit"] == "zero"):
                    raise Mismatch(f"exit code {code}, expected {step['expect_exit']}")
        if not exited:
            ours.shutdown(socket.SHUT_WR)
            code = wait_exit(proc, WAIT)
            if code is None:
                raise Mismatch("the program did not exit when its socket closed")
    except Mismatch:
        proc.kill()
        out = proc.communicate()[0].decode(errors="replace")
        raise Mismatch(f"{sys.exc_info()[1]}\n--- program output ---\n{out[-2000:]}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()
        ours.close()


def main(argv: List[str]) -> int:
    with open(os.path.join(HERE, "transcripts.json")) as f:
        transcripts = json.load(f)["transcripts"]
    names = argv or list(SDKS)
    unknown = [n for n in names if n not in SDKS]
    if unknown:
        print(f"unknown SDK {unknown[0]!r}; known: {', '.join(SDKS)}", file=sys.stderr)
        return 2
    failed = 0
    for name in names:
        for t in transcripts:
            started = time.monotonic()
            try:
                play(SDKS[name], t["steps"])
                print(f"PASS {name}: {t['name']} ({time.monotonic() - started:.2f}s)")
            except Exception as e:
                failed += 1
                print(f"FAIL {name}: {t['name']}: {e}")
    total = len(names) * len(transcripts)
    print(f"conformance: {total - failed}/{total} passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
