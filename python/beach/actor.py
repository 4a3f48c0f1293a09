"""py-beach's actor API, on beach: subclass ``Actor``, define ``init(self, parameters)``, register
handlers with ``self.handle(kind, fn)``, and reach other actors with ``self.getActorHandle(category)``.

Handlers may be plain functions, which run on a thread pool (concurrently, as py-beach's did)
and may block on other actors, or ``async def`` coroutines, which run on the host's event loop
and use the ``a``-prefixed awaitable calls (``await handle.arequest(...)``). A handler returns
py-beach's tuples (``(True,)``, ``(True, data)``, ``(False, message)``, ``(False, message,
data)``) or any other value as its success data; an exception is answered ``exception`` with
the traceback as data.

``Actor.initTestActor(...)`` makes an actor without a cluster, and ``mockRequest(...)`` calls
its handlers, to unit-test an actor.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import hashlib
import importlib.util
import inspect
import os
import sys
import threading
import time
import traceback
from typing import Any, Callable, Dict, List, Optional, Tuple

__all__ = [
    "Actor",
    "ActorHandle",
    "ActorHandleGroup",
    "ActorResponse",
    "FutureResults",
    "RequestMsg",
    "current_actor",
]

current_actor: contextvars.ContextVar[Optional[str]] = contextvars.ContextVar("beach_actor", default=None)
"""The id of the actor whose code runs now (what the host tags printed lines with)."""

current_request: contextvars.ContextVar[Optional[int]] = contextvars.ContextVar("beach_request", default=None)
"""The cluster id of the request a handler serves now (printed lines carry it too)."""

NOT_SUPPORTED = "request type not supported by actor"


class RequestMsg:
    """A request as a handler receives it, with py-beach's attributes."""

    __slots__ = ("id", "req", "dst", "data", "ident", "attempt", "timeout")

    def __init__(self, id: int, req: str, dst: str, data: Any, ident: Optional[str] = None,
                 attempt: int = 0, timeout: Optional[float] = None) -> None:
        self.id = id
        self.req = req
        self.dst = dst
        self.data = data
        self.ident = ident
        self.attempt = attempt
        self.timeout = timeout

    def __str__(self) -> str:
        return f"RequestMsg(id={self.id}, req={self.req!r}, dst={self.dst!r}, ident={self.ident!r}, data={self.data!r})"

    __repr__ = __str__


class ActorResponse:
    """The outcome of a request, as py-beach gave it: ``isSuccess``, ``isTimedOut``, ``error``, ``data``."""

    __slots__ = ("isSuccess", "isTimedOut", "error", "data")

    def __init__(self, isSuccess: bool, data: Any = None, error: Optional[str] = None) -> None:
        self.isSuccess = isSuccess
        self.error = None if isSuccess else (error or "error")
        self.isTimedOut = (not isSuccess) and self.error == "timeout"
        self.data = data

    @property
    def is_success(self) -> bool:
        return self.isSuccess

    @property
    def is_timed_out(self) -> bool:
        return self.isTimedOut

    @classmethod
    def of(cls, outcome: Dict[str, Any]) -> "ActorResponse":
        return cls(bool(outcome.get("ok")), outcome.get("data"), outcome.get("error"))

    def __bool__(self) -> bool:
        return self.isSuccess

    def __str__(self) -> str:
        return f"ActorResponse(isSuccess={self.isSuccess}, isTimedOut={self.isTimedOut}, error={self.error!r}, data={self.data!r})"

    __repr__ = __str__


class FutureResults:
    """The answers of ``requestFromAll`` and group requests, as py-beach's: they arrive one by
    one; ``getNewResults()`` takes those not taken yet, ``waitForResults(timeout)`` waits for
    all of them (returning what came by then), ``isFinished()`` says whether all are in."""

    def __init__(self, future: "Optional[concurrent.futures.Future[List[ActorResponse]]]" = None) -> None:
        self._lock = threading.Lock()
        self._results: List[ActorResponse] = []
        self._given = 0
        self._done = threading.Event()
        self._future: "concurrent.futures.Future[List[ActorResponse]]" = future or concurrent.futures.Future()
        if future is not None:
            future.add_done_callback(lambda f: self._finish(f.result()))

    def _add(self, response: ActorResponse) -> None:
        with self._lock:
            self._results.append(response)

    def _finish(self, responses: List[ActorResponse] = ()) -> None:  # type: ignore[assignment]
        with self._lock:
            self._results.extend(responses)
            results = list(self._results)
        if not self._future.done():
            self._future.set_result(results)
        self._done.set()

    def isFinished(self) -> bool:
        return self._done.is_set()

    def waitForResults(self, timeout: Optional[float] = None) -> List[ActorResponse]:
        """The answers, once all are in or ``timeout`` seconds passed (then those that came)."""
        self._done.wait(timeout)
        with self._lock:
            self._given = len(self._results)
            return list(self._results)

    def getNewResults(self) -> List[ActorResponse]:
        """The answers that came since the last call, without waiting."""
        with self._lock:
            new = self._results[self._given:]
            self._given = len(self._results)
            return new

    def __iter__(self):
        self._done.wait()
        return iter(list(self._results))

    is_finished = isFinished
    wait_for_results = waitForResults
    get_new_results = getNewResults


def _seconds_to_ms(timeout: Optional[float]) -> Optional[int]:
    return None if timeout is None else max(1, int(timeout * 1000))


class _Calls:
    """What handles need from the actor's host: make a call, and know the actor."""

    def __init__(self, actor: "Actor") -> None:
        self.actor = actor

    def call(self, op: str, **keys: Any) -> "concurrent.futures.Future[Any]":
        keys = {k: v for k, v in keys.items() if v is not None}
        return self.actor._beach.call(self.actor, op, keys)

    def blocking(self, op: str, **keys: Any) -> Any:
        """Makes a call and waits for its result: from a plain function, never from the event
        loop (an ``async def`` handler), whose waiting would stall every other handler."""
        if self.actor._beach.on_loop():
            raise RuntimeError(f"a blocking {op} in an async def handler would stall the event loop: "
                               "await the a-prefixed call instead (await handle.arequest(...))")
        return self.call(op, **keys).result()


class ActorHandle:
    """A category of actors, as ``getActorHandle`` gives it (py-beach's handle)."""

    def __init__(self, actor: "Actor", category: str, mode: str = "local", nRetries: Optional[int] = None,
                 timeout: Optional[float] = None, ident: Optional[str] = None) -> None:
        self._calls = _Calls(actor)
        self.category = category
        self.mode = mode
        self.nRetries = nRetries
        self.timeout = timeout
        self.ident = ident

    def _request_keys(self, requestType: str, data: Any, timeout: Optional[float], key: Optional[str],
                      nRetries: Optional[int]) -> Dict[str, Any]:
        return dict(category=self.category, kind=requestType, data=data, mode=self.mode if key is None else "affinity",
                    key=None if key is None else str(key), timeout_ms=_seconds_to_ms(timeout if timeout is not None else self.timeout),
                    retries=nRetries if nRetries is not None else self.nRetries, ident=self.ident)

    def _response(self, future: "concurrent.futures.Future[Any]") -> "concurrent.futures.Future[ActorResponse]":
        out: "concurrent.futures.Future[ActorResponse]" = concurrent.futures.Future()

        def done(f: "concurrent.futures.Future[Any]") -> None:
            resp = ActorResponse.of(f.result())
            if not resp.isSuccess:
                self._calls.actor._last_error = resp.error
            out.set_result(resp)

        future.add_done_callback(done)
        return out

    def request(self, requestType: str, data: Any = None, timeout: Optional[float] = None, key: Optional[str] = None,
                nRetries: Optional[int] = None, onFailure: Optional[Callable[[ActorResponse], Any]] = None) -> ActorResponse:
        """Asks one actor of the category and waits for its answer."""
        if self._calls.actor._beach.on_loop():
            raise RuntimeError("a blocking request in an async def handler would stall the event loop: "
                               "use await handle.arequest(...)")
        resp = self._response(self._calls.call("request", **self._request_keys(requestType, data, timeout, key, nRetries))).result()
        if not resp.isSuccess and onFailure is not None:
            onFailure(resp)
        return resp

    async def arequest(self, requestType: str, data: Any = None, timeout: Optional[float] = None,
                       key: Optional[str] = None, nRetries: Optional[int] = None) -> ActorResponse:
        """``request`` for ``async def`` handlers: awaits the answer without blocking the loop."""
        future = self._response(self._calls.call("request", **self._request_keys(requestType, data, timeout, key, nRetries)))
        return await asyncio.wrap_future(future)

    def shoot(self, requestType: str, data: Any = None, timeout: Optional[float] = None, key: Optional[str] = None,
              nRetries: Optional[int] = None, onFailure: Optional[Callable[[ActorResponse], Any]] = None) -> None:
        """Sends without waiting for the answer. With ``onFailure``, the request runs in the
        background and a failure calls it."""
        if onFailure is not None:
            future = self._response(self._calls.call("request", **self._request_keys(requestType, data, timeout, key, nRetries)))
            future.add_done_callback(lambda f: None if f.result().isSuccess else onFailure(f.result()))
            return
        keys = self._request_keys(requestType, data, None, key, None)
        keys.pop("timeout_ms", None)
        keys.pop("retries", None)
        self._calls.call("shoot", **keys)

    def broadcast(self, requestType: str, data: Any = None) -> int:
        """Sends to every actor of the category without waiting for answers; how many it reached."""
        outcome = self._calls.blocking("broadcast", category=self.category, kind=requestType, data=data, ident=self.ident)
        return int(outcome.get("data") or 0) if outcome.get("ok") else 0

    def requestFromAll(self, requestType: str, data: Any = None, timeout: Optional[float] = None) -> FutureResults:
        """Asks every actor of the category; the answers come as ``FutureResults``."""
        future = self._calls.call("request_from_all", category=self.category, kind=requestType, data=data,
                                  timeout_ms=_seconds_to_ms(timeout if timeout is not None else self.timeout), ident=self.ident)
        results = FutureResults()

        def done(f: "concurrent.futures.Future[Any]") -> None:
            outcome = f.result()
            results._finish([ActorResponse.of(o) for o in outcome.get("data") or []] if outcome.get("ok") else [])

        future.add_done_callback(done)
        return results

    async def arequestFromAll(self, requestType: str, data: Any = None, timeout: Optional[float] = None) -> List[ActorResponse]:
        """``requestFromAll`` for ``async def`` handlers: every answer, awaited."""
        return await asyncio.wrap_future(self.requestFromAll(requestType, data, timeout)._future)

    def getNumAvailable(self) -> int:
        """How many actors the category has now."""
        outcome = self._calls.blocking("available", category=self.category)
        return int(outcome.get("data") or 0)

    def isAvailable(self) -> bool:
        """Whether the category has an actor now."""
        return self.getNumAvailable() > 0

    def close(self) -> None:
        """Nothing to release (py-beach's handles held sockets)."""

    request_from_all = requestFromAll
    arequest_from_all = arequestFromAll
    get_num_available = getNumAvailable
    is_available = isAvailable


class ActorHandleGroup:
    """One actor of each sub-category one level below a root (py-beach's group handle)."""

    def __init__(self, actor: "Actor", categoryRoot: str, mode: str = "random", nRetries: Optional[int] = None,
                 timeout: Optional[float] = None, ident: Optional[str] = None) -> None:
        self._calls = _Calls(actor)
        self.root = categoryRoot if categoryRoot.endswith("/") else categoryRoot + "/"
        self.nRetries = nRetries
        self.timeout = timeout
        self.ident = ident

    def request(self, requestType: str, data: Any = None, timeout: Optional[float] = None,
                nRetries: Optional[int] = None) -> Dict[str, ActorResponse]:
        """Asks one actor of each sub-category; the answers by sub-category."""
        outcome = self._calls.blocking("group_request", root=self.root, kind=requestType, data=data,
                                       timeout_ms=_seconds_to_ms(timeout if timeout is not None else self.timeout),
                                       retries=nRetries if nRetries is not None else self.nRetries, ident=self.ident)
        if not outcome.get("ok"):
            return {}
        return {sub: ActorResponse.of(o) for sub, o in (outcome.get("data") or {}).items()}

    def shoot(self, requestType: str, data: Any = None) -> int:
        """Sends to one actor of each sub-category without waiting; how many it reached."""
        outcome = self._calls.blocking("group_shoot", root=self.root, kind=requestType, data=data, ident=self.ident)
        return int(outcome.get("data") or 0) if outcome.get("ok") else 0

    def close(self) -> None:
        """Nothing to release."""


def answer_of(result: Any) -> Tuple[bool, Any, Optional[str]]:
    """A handler's return value as (ok, data, error): py-beach's tuples, or plain success data."""
    if isinstance(result, tuple) and result and isinstance(result[0], bool):
        if result[0]:
            return True, (result[1] if len(result) > 1 else None), None
        message = result[1] if len(result) > 1 else "error"
        return False, (result[2] if len(result) > 2 else None), str(message)
    return True, result, None


def init_arity(fn: Callable[..., Any]) -> int:
    """How many arguments ``init`` takes besides ``self``: 1 (parameters) or 2 (and resources)."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return 2
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params):
        return 2
    positional = [p for p in params if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    return 2 if len(positional) >= 2 else 1


class _TestBeach:
    """The host of a test actor: no cluster, calls fail, timers do not run."""

    def call(self, actor: "Actor", op: str, keys: Dict[str, Any]) -> "concurrent.futures.Future[Any]":
        f: "concurrent.futures.Future[Any]" = concurrent.futures.Future()
        f.set_result({"ok": False, "data": None, "error": f"no cluster: {op} from a test actor"})
        return f

    def send(self, frame: Dict[str, Any]) -> None:
        pass

    def run(self, actor: "Actor", fn: Callable[..., Any], args: Tuple[Any, ...]) -> "concurrent.futures.Future[Any]":
        f: "concurrent.futures.Future[Any]" = concurrent.futures.Future()
        try:
            result = fn(*args)
            if inspect.isawaitable(result):
                result = asyncio.run(_awaited(result))
            f.set_result(result)
        except BaseException as e:
            f.set_exception(e)
        return f

    def later(self, delay: float, callback: Callable[[], None]) -> None:
        pass

    def on_loop(self) -> bool:
        return False


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


class Actor:
    """The base class of a Python actor (py-beach's ``beach.actor.Actor``).

    A subclass defines ``init(self, parameters)`` (or ``init(self, parameters, resources)``),
    and may define ``deinit(self)`` and ``drain(self)``. The node constructs it with no
    arguments and calls ``init``; an exception there is the spawn's error, traceback included.
    """

    def __init__(self) -> None:
        self._beach: Any = _TestBeach()
        self._n = 0
        self._id = "test"
        self._realm = "global"
        self._categories: List[str] = []
        self._ident: Optional[str] = None
        self._handlers: Dict[str, Callable[..., Any]] = {}
        self._coroutines: set = set()
        self._stats: Dict[str, float] = {}
        self._stopped = threading.Event()
        self._last_error: Optional[str] = None
        self._folder = os.getcwd()
        self._libs: Dict[str, Any] = {}

    # -- set-up by the host -------------------------------------------------------------------

    def _attach(self, beach: Any, n: int, frame: Dict[str, Any], folder: str) -> None:
        Actor.__init__(self)
        self._beach = beach
        self._n = n
        self._id = frame.get("id", "")
        self._realm = frame.get("realm", "global")
        self._categories = list(frame.get("categories") or [])
        self._ident = frame.get("ident")
        self._folder = folder

    # -- py-beach's API -----------------------------------------------------------------------

    def init(self, parameters: Dict[str, Any], resources: Optional[Dict[str, str]] = None) -> None:
        """Sets the actor up; override it."""

    def deinit(self) -> None:
        """Runs when the actor stops; override it."""

    def drain(self) -> None:
        """Runs before the actor stops, when it was spawned drainable; override it."""

    @property
    def name(self) -> str:
        """The actor's id."""
        return self._id

    def handle(self, requestType: str, fn: Callable[..., Any]) -> None:
        """Answers requests of type ``requestType`` with ``fn(msg)``."""
        self._handlers[requestType] = fn
        if inspect.iscoroutinefunction(fn):
            self._coroutines.add(requestType)
        else:
            self._coroutines.discard(requestType)

    def unhandle(self, requestType: str) -> None:
        """Stops answering ``requestType`` (it is answered as not supported)."""
        self._handlers.pop(requestType, None)
        self._coroutines.discard(requestType)

    def getActorHandle(self, category: str, mode: str = "local", nRetries: Optional[int] = None,
                       timeout: Optional[float] = None, ident: Optional[str] = None) -> ActorHandle:
        """A handle to ``category``; requests carry this actor's ident unless given another."""
        return ActorHandle(self, category, mode, nRetries, timeout, ident if ident is not None else self._ident)

    def getActorHandleGroup(self, categoryRoot: str, mode: str = "random", nRetries: Optional[int] = None,
                            timeout: Optional[float] = None, ident: Optional[str] = None) -> ActorHandleGroup:
        """A group handle over the sub-categories one level below ``categoryRoot``."""
        return ActorHandleGroup(self, categoryRoot, mode, nRetries, timeout, ident if ident is not None else self._ident)

    def schedule(self, delay: float, fn: Callable[..., Any], *args: Any) -> None:
        """Calls ``fn(*args)`` at once, then again ``delay`` seconds after each call ends, until
        the actor stops."""
        def run() -> None:
            if self._stopped.is_set():
                return
            self._beach.run(self, fn, args).add_done_callback(lambda f: self._after(f, fn, lambda: self._beach.later(delay, run)))
        self._beach.later(0, run)

    def delay(self, seconds: float, fn: Callable[..., Any], *args: Any) -> None:
        """Calls ``fn(*args)`` once, ``seconds`` from now, unless the actor stopped."""
        def run() -> None:
            if not self._stopped.is_set():
                self._beach.run(self, fn, args).add_done_callback(lambda f: self._after(f, fn, None))
        self._beach.later(seconds, run)

    def newThread(self, fn: Callable[..., Any], *args: Any) -> "concurrent.futures.Future[Any]":
        """Runs ``fn(*args)`` concurrently; its future."""
        future = self._beach.run(self, fn, args)
        future.add_done_callback(lambda f: self._after(f, fn, None))
        return future

    def _after(self, future: "concurrent.futures.Future[Any]", fn: Callable[..., Any], then: Optional[Callable[[], None]]) -> None:
        error = future.exception()
        if error is not None:
            text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
            self.log(f"{getattr(fn, '__name__', fn)} raised: {text}", level="error")
        if then is not None and not self._stopped.is_set():
            then()

    def sleep(self, seconds: float) -> None:
        """Sleeps this thread (other handlers keep running)."""
        time.sleep(seconds)

    def stop(self) -> None:
        """Stops this actor: it leaves the directory, and its node stops it."""
        self._beach.send({"t": "stop_self", "actor": self._n})

    def log(self, *message: Any, level: str = "info") -> None:
        """Writes to the node's log, tagged with this actor's id."""
        self._beach.send({"t": "log", "actor": self._n, "level": level, "message": " ".join(str(m) for m in message)})

    def logCritical(self, *message: Any) -> None:
        """Writes a critical line to the node's log."""
        self.log(*message, level="critical")

    def zInc(self, key: str, value: float = 1) -> float:
        """Adds ``value`` to the counter ``key`` (shown by ``beach load`` and ``beach metadata``)."""
        return self.zSet(key, self._stats.get(key, 0) + value)

    def zSet(self, key: str, value: float) -> float:
        """Sets the counter ``key``."""
        self._stats[key] = value
        self._beach.send({"t": "stat", "actor": self._n, "name": key, "value": float(value)})
        return value

    def zGet(self, key: str) -> Optional[float]:
        """The counter ``key``, or ``None``."""
        return self._stats.get(key)

    def getLastError(self) -> Optional[str]:
        """The error of this actor's last failed request, or ``None``."""
        return self._last_error

    def retry(self, n: int, delay: float, fn: Callable[..., Any], *args: Any) -> Any:
        """Calls ``fn(*args)`` until it does not raise, at most ``n`` times, ``delay`` seconds
        apart; raises the last error."""
        for attempt in range(max(1, n)):
            try:
                return fn(*args)
            except Exception:
                if attempt + 1 >= max(1, n):
                    raise
                time.sleep(delay)

    def _relative(self, path: str) -> str:
        full = os.path.normpath(os.path.join(self._folder, path))
        if os.path.commonpath([full, os.path.normpath(self._folder)]) != os.path.normpath(self._folder):
            raise ValueError(f"{path!r} is outside the realm's folder")
        return full

    def readRelativeFile(self, path: str) -> str:
        """The text of ``path`` in this actor's realm folder of the code directory."""
        with open(self._relative(path), "rb") as f:
            return f.read().decode("utf-8")

    def importLib(self, name: str, className: Optional[str] = None) -> Any:
        """Imports ``name`` (``helper`` or ``helper.py``) from this actor's realm folder, under a
        name that includes its content hash, so two versions can be loaded side by side; with
        ``className``, that attribute of it."""
        file = self._relative(name if name.endswith(".py") else name + ".py")
        with open(file, "rb") as f:
            source = f.read()
        digest = hashlib.sha256(source).hexdigest()[:16]
        module_name = f"beach_lib_{os.path.basename(file)[:-3]}_{digest}"
        module = sys.modules.get(module_name)
        if module is None:
            spec = importlib.util.spec_from_loader(module_name, loader=None, origin=file)
            assert spec is not None
            module = importlib.util.module_from_spec(spec)
            module.__file__ = file
            exec(compile(source, file, "exec"), module.__dict__)
            sys.modules[module_name] = module
        return getattr(module, className) if className else module

    # -- testing ------------------------------------------------------------------------------

    @classmethod
    def initTestActor(cls, parameters: Optional[Dict[str, Any]] = None, resources: Optional[Dict[str, str]] = None,
                      ident: Optional[str] = None, categories: Optional[List[str]] = None) -> "Actor":
        """An actor of this class, initialised without a cluster: its handlers can be called
        with ``mockRequest``; its own requests fail and its timers do not run."""
        actor = cls()
        Actor.__init__(actor)
        actor._ident = ident
        actor._categories = list(categories or [])
        folder = os.path.dirname(os.path.abspath(inspect.getfile(cls))) if cls.__module__ != "__main__" else os.getcwd()
        actor._folder = folder
        args = (parameters or {},) if init_arity(actor.init) == 1 else (parameters or {}, resources or {})
        result = actor.init(*args)
        if inspect.isawaitable(result):
            asyncio.run(_awaited(result))
        return actor

    def mockRequest(self, requestType: str, data: Any = None, ident: Optional[str] = None) -> ActorResponse:
        """Calls the handler of ``requestType`` as a request would; its answer."""
        fn = self._handlers.get(requestType)
        if fn is None:
            return ActorResponse(False, None, NOT_SUPPORTED)
        msg = RequestMsg(0, requestType, self._id, data, ident)
        try:
            result = fn(msg)
            if inspect.isawaitable(result):
                result = asyncio.run(_awaited(result))
        except Exception:
            return ActorResponse(False, traceback.format_exc(), "exception")
        ok, out, error = answer_of(result)
        return ActorResponse(ok, out, error)

    # -- snake_case spellings -----------------------------------------------------------------

    get_actor_handle = getActorHandle
    get_actor_handle_group = getActorHandleGroup
    new_thread = newThread
    log_critical = logCritical
    z_inc = zInc
    z_set = zSet
    z_get = zGet
    get_last_error = getLastError
    read_relative_file = readRelativeFile
    import_lib = importLib
    mock_request = mockRequest

    @classmethod
    def init_test_actor(cls, *args: Any, **kwargs: Any) -> "Actor":
        return cls.initTestActor(*args, **kwargs)
