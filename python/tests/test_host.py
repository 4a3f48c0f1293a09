"""Unit tests of the Python host's handler driving, without a node."""

from __future__ import annotations

import asyncio
import os
import sys
import unittest
from typing import Any, List, Optional

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from beach import protocol  # noqa: E402
from beach.actor import Actor  # noqa: E402
from beach.host import Host, resume  # noqa: E402


class Written:
    """A transport that keeps what the host writes."""

    def __init__(self) -> None:
        self.frames: List[Any] = []
        self.buffer = protocol.FrameBuffer()

    def write(self, data: bytes) -> None:
        self.frames.extend(self.buffer.feed(data))

    def is_closing(self) -> bool:
        return False


class Waits(Actor):
    def init(self, parameters):
        self.gate: Optional[asyncio.Future] = None
        self.handle("now", self.now)
        self.handle("later", self.later)
        self.handle("raise", self.boom)

    async def now(self, msg):
        return msg.data

    async def later(self, msg):
        self.gate = asyncio.get_running_loop().create_future()
        got = await self.gate
        await asyncio.sleep(0)
        await asyncio.sleep(0.001)
        return got + msg.data

    async def boom(self, msg):
        await asyncio.sleep(0)
        raise ValueError("late failure")


def request(rid: int, kind: str, data: Any) -> dict:
    return {"t": "request", "actor": 1, "rid": rid, "kind": kind, "data": data, "ident": None, "timeout_ms": 1000}


class Driving(unittest.TestCase):
    def test_async_handlers_run_at_once_or_as_tasks(self):
        async def scenario() -> List[Any]:
            loop = asyncio.get_running_loop()
            host = Host(loop, protocol.FrameBuffer())
            out = Written()
            host.transport = out  # type: ignore[assignment]
            actor = Waits.__new__(Waits)
            actor._attach(host, 1, {"id": "w"}, os.getcwd())
            actor.init({})
            host.actors[1] = actor
            host.on_frames([request(1, "now", 5)])
            # Answered before the loop turned: no task for a handler that does not wait.
            self.assertEqual(out.frames, [{"t": "answer", "rid": 1, "ok": True, "data": 5}])
            host.on_frames([request(2, "later", 1), request(3, "raise", None), {"t": "ping", "n": 3}])
            self.assertEqual(out.frames[-1], {"t": "pong", "n": 3})
            for _ in range(5):
                await asyncio.sleep(0)
            assert actor.gate is not None
            actor.gate.set_result(41)
            for _ in range(50):
                if len(out.frames) == 4:
                    break
                await asyncio.sleep(0.005)
            return out.frames

        frames = asyncio.run(scenario())
        by_rid = {f.get("rid"): f for f in frames if f["t"] == "answer"}
        self.assertEqual(by_rid[2], {"t": "answer", "rid": 2, "ok": True, "data": 42})
        self.assertEqual(by_rid[3]["error"], "exception")
        self.assertIn("late failure", by_rid[3]["data"])

    def test_resume_drives_a_coroutine_started_by_hand(self):
        async def inner(fut: asyncio.Future) -> int:
            value = await fut
            await asyncio.sleep(0)
            return value * 2

        async def scenario() -> int:
            fut = asyncio.get_running_loop().create_future()
            coro = inner(fut)
            waiting = coro.send(None)
            asyncio.get_running_loop().call_later(0.001, fut.set_result, 21)
            return await asyncio.wait_for(resume(coro, waiting), 2)

        self.assertEqual(asyncio.run(scenario()), 42)


if __name__ == "__main__":
    unittest.main()
