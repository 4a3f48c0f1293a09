"""The process a node runs Python actors in: ``python3 -u -m beach.host``.

It speaks the actor protocol (docs/actor-protocol.md) on the socket whose descriptor is in
``BEACH_ACTOR_FD``. A reader thread takes frames off the socket and answers keep-alive pings
itself, so a busy actor is never judged dead; requests and life-cycle frames go to the event
loop, which runs ``async def`` handlers itself and plain functions on a thread pool. Lines an
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
from .actor import NOT_SUPPORTED, Actor, RequestMsg, answer_of, current_actor, init_arity

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
            prefix = f"[{tag}] " if tag else ""
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


class Host:
    """The actors of this process and the socket to their node."""

    def __init__(self, conn: protocol.Connection, loop: asyncio.AbstractEventLoop) -> None:
        self.conn = conn
        self.loop = loop
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=POOL_THREADS, thread_name_prefix="beach-actor")
        self.actors: Dict[int, Actor] = {}
        self.calls: Dict[int, concurrent.futures.Future[Any]] = {}
        self.calls_lock = threading.Lock()
        self.next_cid = 0
        self.classes: Dict[Tuple[str, str], Type[Actor]] = {}

    # -- what actors use (see actor._TestBeach for the same interface without a cluster) -----

    def send(self, frame: Dict[str, Any]) -> None:
        try:
            self.conn.send(frame)
        except protocol.ProtocolError as e:
            print(f"beach: frame not sent: {e}", file=sys.stderr)
        except OSError:
            pass

    def call(self, actor: Actor, op: str, keys: Dict[str, Any]) -> "concurrent.futures.Future[Any]":
        future: "concurrent.futures.Future[Any]" = concurrent.futures.Future()
        with self.calls_lock:
            self.next_cid += 1
            cid = self.next_cid
            self.calls[cid] = future
        frame = {"t": "call", "actor": actor._n, "cid": cid, "op": op}
        frame.update(keys)
        try:
            self.conn.send(frame)
        except Exception as e:
            with self.calls_lock:
                self.calls.pop(cid, None)
            future.set_result({"ok": False, "data": None, "error": f"cannot send: {e}"})
        return future

    def run(self, actor: Actor, fn: Callable[..., Any], args: Tuple[Any, ...]) -> "concurrent.futures.Future[Any]":
        """Runs ``fn(*args)`` for ``actor``: a coroutine function on the loop, else on the pool."""
        if inspect.iscoroutinefunction(fn):
            ctx = contextvars.copy_context()
            ctx.run(current_actor.set, actor._id)
            return asyncio.run_coroutine_threadsafe(self._in(ctx, fn(*args)), self.loop)
        ctx = contextvars.copy_context()
        ctx.run(current_actor.set, actor._id)
        return self.pool.submit(ctx.run, fn, *args)

    @staticmethod
    async def _in(ctx: contextvars.Context, coro: Any) -> Any:
        current_actor.set(ctx.get(current_actor))
        return await coro

    def later(self, delay: float, callback: Callable[[], None]) -> None:
        self.loop.call_soon_threadsafe(self.loop.call_later, delay, callback)

    # -- frames from the node ----------------------------------------------------------------

    def on_frames(self, frames: List[Dict[str, Any]]) -> None:
        """Runs on the loop: handles what the reader thread passed on."""
        for frame in frames:
            kind = frame["t"]
            try:
                if kind == "request":
                    self.on_request(frame)
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
        msg = RequestMsg(rid, frame["kind"], actor._id, frame.get("data"), frame.get("ident"),
                         frame.get("attempt", 0), None if timeout is None else timeout / 1000.0)
        if inspect.iscoroutinefunction(fn):
            current_actor.set(actor._id)
            task = self.loop.create_task(fn(msg))
            task.add_done_callback(lambda t: self.answer(rid, t))
        else:
            ctx = contextvars.copy_context()
            ctx.run(current_actor.set, actor._id)
            self.pool.submit(ctx.run, fn, msg).add_done_callback(lambda f: self.answer(rid, f))

    def answer(self, rid: int, done: Any) -> None:
        """Answers request ``rid`` with the outcome of ``done`` (a finished task or future)."""
        error = done.exception()
        if error is not None:
            text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
            frame = {"t": "answer", "rid": rid, "ok": False, "error": "exception", "data": text}
        else:
            ok, data, message = answer_of(done.result())
            frame = {"t": "answer", "rid": rid, "ok": ok, "data": data}
            if not ok:
                frame["error"] = message
        try:
            self.conn.send(frame)
        except (TypeError, ValueError, protocol.ProtocolError) as e:  # data CBOR cannot carry
            self.send({"t": "answer", "rid": rid, "ok": False, "error": f"cannot encode the answer: {e}", "data": None})
        except OSError:
            pass

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
        """Runs on the reader thread: completes a call."""
        with self.calls_lock:
            future = self.calls.pop(frame.get("cid"), None)
        if future is not None:
            future.set_result(frame)


def read_loop(host: Host) -> None:
    """The reader thread: frames off the socket; pings and call results handled here. Exits
    the process when the socket ends (0) or the node breaks the protocol (1)."""
    code = 0
    try:
        while True:
            frames = host.conn.recv_many()
            if frames is None:
                break
            rest = []
            for frame in frames:
                kind = frame["t"]
                if kind == "ping":
                    host.send({"t": "pong", "n": frame.get("n", 0)})
                elif kind == "result":
                    host.on_result(frame)
                else:
                    rest.append(frame)
            if rest:
                host.loop.call_soon_threadsafe(host.on_frames, rest)
    except protocol.ProtocolError as e:
        print(f"beach: protocol error from the node: {e}", file=sys.stderr)
        code = 1
    except OSError:
        pass
    # The node closed the socket (it stops us, or it is gone): finish now.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main() -> int:
    fd = os.environ.get("BEACH_ACTOR_FD")
    if fd is None:
        print("beach.host runs actors for a beach node; it is started by the node, not by hand", file=sys.stderr)
        return 2
    sock = socket.socket(fileno=int(fd))
    conn = protocol.Connection(sock)
    conn.send({"t": "hello", "version": protocol.VERSION, "sdk": protocol.SDK})
    welcome = conn.recv()
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
    host = Host(conn, loop)
    threading.Thread(target=read_loop, args=(host,), name="beach-reader", daemon=True).start()
    loop.run_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
