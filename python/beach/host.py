"""The process a node runs Python actors in: ``python3 -u -m beach.host``.

It speaks the actor protocol (docs/actor-protocol.md) on the socket whose descriptor is in
``BEACH_ACTOR_FD``. The event loop reads the socket: it answers keep-alive pings as they are
read, before any handler runs, and completes the actors' calls; it runs ``async def``
handlers itself and plain functions on a thread pool, so a busy plain handler never delays a
ping (an ``async def`` handler must not block the loop, as in any asyncio program). Lines an
actor prints start with its id.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import importlib.util
import inspect
import io
import os
import socket
import sys
import threading
import traceback
from typing import Any, Callable, Dict, List, Optional, Tuple, Type

from . import protocol
from .actor import NOT_SUPPORTED, Actor, RequestMsg, answer_of, current_actor, current_request, init_arity

# Plain handlers run on this many threads at most: each may block on another actor.
POOL_THREADS = int(os.environ.get("BEACH_PY_THREADS", "256"))


class TaggedStream(io.TextIOBase):
    """Standard output or error, with each line an actor prints starting with its id."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw
        self._local = threading.local()
        self._lock = threading.Lock()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        pending = getattr(self._local, "pending", "") + text
        *lines, rest = pending.split("\n")
        self._local.pending = rest
        if lines:
            tag = current_actor.get()
            request = current_request.get()
            prefix = (f"[{tag} req={request}] " if request is not None else f"[{tag}] ") if tag else ""
            out = "".join(prefix + line + "\n" for line in lines)
            with self._lock:
                self._raw.write(out)
                self._raw.flush()
        return len(text)

    def flush(self) -> None:
        pending = getattr(self._local, "pending", "")
        if pending:
            self._local.pending = ""
            self.write(pending + "\n")

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._raw, "encoding", "utf-8")


class Host(asyncio.Protocol):
    """The actors of this process and the socket to their node (an asyncio protocol on it)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, frames: protocol.FrameBuffer) -> None:
        self.loop = loop
        self.loop_thread = threading.get_ident()
        self.frames = frames
        self.transport: Optional[asyncio.Transport] = None
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=POOL_THREADS, thread_name_prefix="beach-actor")
        self.actors: Dict[int, Actor] = {}
        self.calls: Dict[int, concurrent.futures.Future[Any]] = {}
        self.calls_lock = threading.Lock()
        self.next_cid = 0
        self.classes: Dict[Tuple[str, str], Type[Actor]] = {}
        self.exit_code = 0

    # -- the socket ---------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            frames = self.frames.feed(data)
        except protocol.ProtocolError as e:
            print(f"beach: protocol error from the node: {e}", file=sys.stderr)
            self.exit_code = 1
            assert self.transport is not None
            self.transport.close()
            return
        self.on_frames(frames)

    def connection_lost(self, exc: Optional[Exception]) -> None:
        # The node closed the socket (it stops us, or it is gone): finish now.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(self.exit_code)

    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    # -- what actors use (see actor._TestBeach for the same interface without a cluster) -----

    def send(self, frame: Dict[str, Any]) -> None:
        """Sends a frame, from any thread; a frame too large or not encodable is an error."""
        data = protocol.encode(frame, self.frames.max_frame)
        if threading.get_ident() == self.loop_thread:
            self._write(data)
        else:
            self.loop.call_soon_threadsafe(self._write, data)

    def call(self, actor: Actor, op: str, keys: Dict[str, Any]) -> "concurrent.futures.Future[Any]":
        future: "concurrent.futures.Future[Any]" = concurrent.futures.Future()
        with self.calls_lock:
            self.next_cid += 1
            cid = self.next_cid
            self.calls[cid] = future
        frame = {"t": "call", "actor": actor._n, "cid": cid, "op": op}
        frame.update(keys)
        try:
            self.send(frame)
        except Exception as e:
            with self.calls_lock:
                self.calls.pop(cid, None)
            future.set_result({"ok": False, "data": None, "error": f"cannot send: {e}"})
        return future

    def run(self, actor: Actor, fn: Callable[..., Any], args: Tuple[Any, ...]) -> "concurrent.futures.Future[Any]":
        """Runs ``fn(*args)`` for ``actor``: a coroutine function on the loop, else on the pool."""
        ctx = contextvars.copy_context()
        ctx.run(current_actor.set, actor._id)
        if inspect.iscoroutinefunction(fn):
            return asyncio.run_coroutine_threadsafe(self._in(actor._id, fn(*args)), self.loop)
        return self.pool.submit(ctx.run, fn, *args)

    @staticmethod
    async def _in(actor_id: str, coro: Any) -> Any:
        current_actor.set(actor_id)
        return await coro

    def later(self, delay: float, callback: Callable[[], None]) -> None:
        self.loop.call_soon_threadsafe(self.loop.call_later, delay, callback)

    def on_loop(self) -> bool:
        """Whether this thread runs the event loop (where nothing may block)."""
        return threading.get_ident() == self.loop_thread

    # -- frames from the node ----------------------------------------------------------------

    def on_frames(self, frames: List[Dict[str, Any]]) -> None:
        """Handles frames as they are read, on the loop."""
        for frame in frames:
            kind = frame["t"]
            try:
                if kind == "request":
                    self.on_request(frame)
                elif kind == "ping":
                    self.send({"t": "pong", "n": frame.get("n", 0)})
                elif kind == "result":
                    self.on_result(frame)
                elif kind == "init":
                    self.loop.create_task(self.on_init(frame))
                elif kind in ("drain", "stop"):
                    self.loop.create_task(self.on_finish(frame, kind == "stop"))
                else:
                    print(f"beach: unexpected frame {kind!r}; ignored", file=sys.stderr)
            except KeyError as e:
                print(f"beach: {kind} frame lacks {e}; ignored", file=sys.stderr)

    def load_class(self, file: str, type_name: str, sha256: str) -> Type[Actor]:
        key = (file, sha256)
        cls = self.classes.get(key)
        if cls is not None:
            return cls
        module_name = f"beach_actor_{type_name}_{sha256[:16]}"
        spec = importlib.util.spec_from_file_location(module_name, file)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {file}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
        cls = getattr(module, type_name, None)
        if not (isinstance(cls, type) and issubclass(cls, Actor)):
            raise TypeError(f"{os.path.basename(file)} defines no class {type_name}(Actor)")
        self.classes[key] = cls
        return cls

    async def on_init(self, frame: Dict[str, Any]) -> None:
        n = frame["actor"]
        try:
            cls = self.load_class(frame["file"], frame["type"], frame.get("sha256", ""))
            actor = cls.__new__(cls)
            actor._attach(self, n, frame, os.getcwd())
            params = frame.get("parameters") or {}
            args = (params,) if init_arity(actor.init) == 1 else (params, frame.get("resources") or {})
            result = await asyncio.wrap_future(self.run(actor, actor.init, args))
            if inspect.isawaitable(result):
                await result
            self.actors[n] = actor
            self.send({"t": "ready", "actor": n})
        except BaseException as e:  # init's error is the spawn's
            text = "".join(traceback.format_exception(type(e), e, e.__traceback__))
            self.send({"t": "failed", "actor": n, "error": f"init failed: {type(e).__name__}: {e}", "data": text})

    def on_request(self, frame: Dict[str, Any]) -> None:
        rid = frame["rid"]
        actor = self.actors.get(frame["actor"])
        if actor is None:
            self.send({"t": "answer", "rid": rid, "ok": False, "error": "wrong dest", "data": None})
            return
        fn = actor._handlers.get(frame["kind"])
        if fn is None:
            self.send({"t": "answer", "rid": rid, "ok": False, "error": NOT_SUPPORTED, "data": None})
            return
        timeout = frame.get("timeout_ms")
        request_id = frame.get("request_id", rid)
        msg = RequestMsg(request_id, frame["kind"], actor._id, frame.get("data"), frame.get("ident"),
                         frame.get("attempt", 0), None if timeout is None else timeout / 1000.0)
        if frame["kind"] in actor._coroutines:
            current_actor.set(actor._id)
            current_request.set(request_id)
            self.start_coroutine(rid, fn(msg))
            current_request.set(None)
        else:
            ctx = contextvars.copy_context()
            ctx.run(current_actor.set, actor._id)
            ctx.run(current_request.set, request_id)
            self.pool.submit(ctx.run, fn, msg).add_done_callback(lambda f: self.answer_done(rid, f))

    def start_coroutine(self, rid: int, coro: Any) -> None:
        """Runs an ``async def`` handler at once, up to its first wait: one that finishes
        without waiting is answered here, with no task and no turn of the loop (as Python
        3.12's eager tasks do); one that waits goes on as a task."""
        try:
            waiting = coro.send(None)
        except StopIteration as e:
            self.answer(rid, None, e.value)
            return
        except BaseException as e:
            self.answer(rid, e, None)
            return
        task = self.loop.create_task(resume(coro, waiting))
        task.add_done_callback(lambda t: self.answer_done(rid, t))

    def answer_done(self, rid: int, done: Any) -> None:
        """Answers request ``rid`` with the outcome of ``done`` (a finished task or future)."""
        if done.cancelled():
            self.answer(rid, RuntimeError("the handler was cancelled"), None)
            return
        error = done.exception()
        self.answer(rid, error, None if error is not None else done.result())

    def answer(self, rid: int, error: Optional[BaseException], result: Any) -> None:
        """Answers request ``rid``: the handler raised ``error``, or returned ``result``."""
        if error is not None:
            text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
            frame = {"t": "answer", "rid": rid, "ok": False, "error": "exception", "data": text}
        else:
            ok, data, message = answer_of(result)
            frame = {"t": "answer", "rid": rid, "ok": ok, "data": data}
            if not ok:
                frame["error"] = message
        try:
            self.send(frame)
        except Exception as e:  # data CBOR cannot carry, or too large a frame
            self.send({"t": "answer", "rid": rid, "ok": False, "error": f"cannot encode the answer: {e}", "data": None})

    async def on_finish(self, frame: Dict[str, Any], stop: bool) -> None:
        n = frame["actor"]
        actor = self.actors.get(n)
        if actor is not None:
            if stop:
                actor._stopped.set()
            hook = actor.deinit if stop else actor.drain
            try:
                result = await asyncio.wrap_future(self.run(actor, hook, ()))
                if inspect.isawaitable(result):
                    await result
            except Exception:
                print(f"beach: {'deinit' if stop else 'drain'} of {actor._id} raised:\n{traceback.format_exc()}", file=sys.stderr)
            if stop:
                self.actors.pop(n, None)
        self.send({"t": "stopped" if stop else "drained", "actor": n})

    def on_result(self, frame: Dict[str, Any]) -> None:
        """Completes a call (its waiter may be a pool thread or a coroutine)."""
        with self.calls_lock:
            future = self.calls.pop(frame.get("cid"), None)
        if future is not None:
            future.set_result(frame)


async def resume(coro: Any, waiting: Any) -> Any:
    """Drives a coroutine that was started by hand and now waits for ``waiting`` (what it
    yielded: an asyncio future, or None for a bare yield) to the end, as a task would."""
    while True:
        if waiting is None:
            await asyncio.sleep(0)
        else:
            # The coroutine marked the future as awaited when it yielded it; unmark it so it
            # can be awaited here (asyncio refuses a future awaited twice at once).
            waiting._asyncio_future_blocking = False
            try:
                await waiting
            except BaseException:
                pass  # the coroutine reads the outcome itself when resumed
        try:
            waiting = coro.send(None)
        except StopIteration as e:
            return e.value


def main() -> int:
    fd = os.environ.get("BEACH_ACTOR_FD")
    if fd is None:
        print("beach.host runs actors for a beach node; it is started by the node, not by hand", file=sys.stderr)
        return 2
    sock = socket.socket(fileno=int(fd))
    conn = protocol.Connection(sock)
    conn.send({"t": "hello", "version": protocol.VERSION, "sdk": protocol.SDK})
    try:
        welcome = conn.recv()
    except protocol.ProtocolError as e:
        print(f"beach: protocol error from the node: {e}", file=sys.stderr)
        return 1
    if welcome is None:
        return 1
    if welcome.get("t") != "welcome":
        print(f"beach: the node refused this SDK: {welcome.get('error', welcome)}", file=sys.stderr)
        return 2
    if welcome.get("version") != protocol.VERSION:
        print(f"beach: the node speaks protocol {welcome.get('version')}, this SDK {protocol.VERSION}", file=sys.stderr)
        return 2
    conn.max_frame = int(welcome.get("max_frame") or conn.max_frame)
    sys.stdout = TaggedStream(sys.stdout)  # type: ignore[assignment]
    sys.stderr = TaggedStream(sys.stderr)  # type: ignore[assignment]
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    early, rest = conn.take_pending()
    host = Host(loop, conn.frames)
    sock.setblocking(False)
    loop.run_until_complete(loop.create_unix_connection(lambda: host, sock=sock))
    if early:
        host.on_frames(early)
    if rest:
        host.data_received(rest)
    loop.run_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
