"""py-beach's client, over beach's HTTP gateway: ``Beach(configFile, realm='global')``.

It reads the gateways from ``cluster.yaml`` (``http:``; a wildcard host means "each seed's host
at that port") or from ``BEACH_GATEWAY`` (comma-separated base URLs, which wins), and tries them
in turn, so any node's gateway serves it. Return values keep py-beach's shapes, since callers'
code tests them: ``addActor`` returns ``{'status': {'success': True}, 'data': {'uid': ...}}``
(check it with ``beach.utils.isMessageSuccess``), handle requests return an ``ActorResponse``
with ``isSuccess``, ``isTimedOut``, ``error`` and ``data``, and ``requestFromAll`` and group
requests return ``FutureResults``.

The admin token is the client's ``_admin_token`` attribute, read at each call (``admin_token``
from the configuration file when it has one); ``http_token`` from the file is sent with every
call. Needs PyYAML to read the configuration file.
"""

from __future__ import annotations

import http.client
import json
import os
import threading
import urllib.parse
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

from .actor import ActorResponse, FutureResults

__all__ = ["Beach", "ActorHandle", "ActorHandleGroup", "GatewayError", "gateways_of"]


class GatewayError(Exception):
    """No gateway answered."""


def gateways_of(config: Dict[str, Any]) -> List[str]:
    """The gateways' base URLs a configuration names: ``http`` (``host:port``), with a wildcard
    host replaced by each seed's host."""
    http_addr = config.get("http")
    if not http_addr:
        return []
    host, _, port = str(http_addr).rpartition(":")
    host = host.strip("[]")
    if host in ("0.0.0.0", "::", ""):
        seeds = [str(s).rpartition(":")[0].strip("[]") or str(s) for s in config.get("seed_nodes") or []]
        hosts = sorted(set(seeds)) or ["127.0.0.1"]
    else:
        hosts = [host]
    return [f"http://{'[' + h + ']' if ':' in h else h}:{port}" for h in hosts]


class _Gateways:
    """Keep-alive connections to the gateways, one per thread, failing over in turn."""

    def __init__(self, urls: List[str], timeout: float) -> None:
        if not urls:
            raise GatewayError("no gateway: set http in cluster.yaml, or BEACH_GATEWAY=http://host:port")
        self.urls = [urllib.parse.urlsplit(u) for u in urls]
        self.timeout = timeout
        self.local = threading.local()
        self.first = 0

    def _connection(self, i: int) -> http.client.HTTPConnection:
        conns = getattr(self.local, "conns", None)
        if conns is None:
            conns = self.local.conns = {}
        conn = conns.get(i)
        if conn is None:
            u = self.urls[i]
            conn = conns[i] = http.client.HTTPConnection(u.hostname or "127.0.0.1", u.port or 80, timeout=self.timeout)
        return conn

    def _drop(self, i: int) -> None:
        conn = getattr(self.local, "conns", {}).pop(i, None)
        if conn is not None:
            conn.close()

    def call(self, method: str, path: str, body: Any = None, headers: Optional[Dict[str, str]] = None,
             wait: Optional[float] = None) -> Tuple[int, Any]:
        """Sends a call to the first gateway that answers; its status and JSON body."""
        status, raw = self._send(method, path, body, headers, wait)
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, {"ok": False, "error": raw.decode(errors="replace")}

    def stream(self, path: str, body: Any, headers: Dict[str, str], wait: Optional[float]) -> Iterator[Dict[str, Any]]:
        """Sends a call whose answer is one JSON object per line; yields them as they come."""
        for i in self._order():
            u = self.urls[i]
            conn = http.client.HTTPConnection(u.hostname or "127.0.0.1", u.port or 80,
                                              timeout=(wait or self.timeout) + 5)
            try:
                conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json", **headers})
                resp = conn.getresponse()
            except OSError:
                conn.close()
                continue
            try:
                if resp.status != 200:
                    raw = resp.read()
                    try:
                        yield json.loads(raw)
                    except ValueError:
                        yield {"ok": False, "error": raw.decode(errors="replace")}
                    return
                for line in resp:
                    if line.strip():
                        yield json.loads(line)
                return
            finally:
                conn.close()
        raise GatewayError(f"no gateway answered ({', '.join(u.geturl() for u in self.urls)})")

    def _order(self) -> List[int]:
        n = len(self.urls)
        return [(self.first + k) % n for k in range(n)]

    def _send(self, method: str, path: str, body: Any, headers: Optional[Dict[str, str]],
              wait: Optional[float]) -> Tuple[int, bytes]:
        data = None if body is None else json.dumps(body)
        head = {"Content-Type": "application/json", **(headers or {})}
        last: Optional[Exception] = None
        for i in self._order():
            for attempt in range(2):  # a kept-alive connection the gateway closed: once more
                conn = self._connection(i)
                conn.timeout = (wait or self.timeout) + 5
                try:
                    conn.request(method, path, data, head)
                    resp = conn.getresponse()
                    raw = resp.read()
                    self.first = i
                    return resp.status, raw
                except (OSError, http.client.HTTPException) as e:
                    last = e
                    self._drop(i)
        raise GatewayError(f"no gateway answered ({', '.join(u.geturl() for u in self.urls)}): {last}")

    def close(self) -> None:
        for i in range(len(self.urls)):
            self._drop(i)


def _reply(status: int, body: Any, data_key: Optional[str] = None) -> Dict[str, Any]:
    """py-beach's reply document from a gateway answer."""
    if status == 200:
        out: Dict[str, Any] = {"status": {"success": True}}
        if data_key is not None:
            out["data"] = body
        return out
    error = body.get("error") if isinstance(body, dict) else str(body)
    return {"status": {"success": False, "error": error}}


def _seconds(timeout: Optional[float]) -> Optional[float]:
    return None if timeout is None else float(timeout)


class ActorHandle:
    """A category to send to, as py-beach's handle: ``request``, ``shoot``, ``broadcast``,
    ``requestFromAll``, ``isAvailable``, ``getNumAvailable``."""

    def __init__(self, beach: "Beach", category: str, mode: str = "random", nRetries: Optional[int] = None,
                 timeout: Optional[float] = None, ident: Optional[str] = None) -> None:
        self._beach = beach
        self.category = category
        self.mode = mode
        self.nRetries = nRetries
        self.timeout = timeout
        self.ident = ident
        self._pending: Dict[str, int] = {}
        self._lock = threading.Lock()

    def _body(self, requestType: str, data: Any, timeout: Optional[float], key: Optional[str],
              nRetries: Optional[int]) -> Dict[str, Any]:
        body: Dict[str, Any] = {"realm": self._beach.realm, "category": self.category, "kind": requestType,
                                "data": {} if data is None else data,
                                "mode": "affinity" if key is not None else self.mode}
        t = _seconds(timeout if timeout is not None else self.timeout)
        if t is not None:
            body["timeout"] = t
        n = nRetries if nRetries is not None else self.nRetries
        if n is not None:
            body["retries"] = int(n)
        if key is not None:
            body["key"] = str(key)
        if self.ident is not None:
            body["ident"] = self.ident
        return body

    def request(self, requestType: str, data: Any = None, timeout: Optional[float] = None, key: Optional[str] = None,
                nRetries: Optional[int] = None) -> ActorResponse:
        """Asks one actor of the category and waits for its answer."""
        body = self._body(requestType, data, timeout, key, nRetries)
        with self._lock:
            self._pending[self.category] = self._pending.get(self.category, 0) + 1
        try:
            status, answer = self._beach._call("POST", "/v1/request", body, wait=body.get("timeout"))
        except GatewayError as e:
            return ActorResponse(False, None, f"unreachable: {e}")
        finally:
            with self._lock:
                self._pending[self.category] -= 1
        if not isinstance(answer, dict):
            return ActorResponse(False, None, f"gateway answered {status}")
        return ActorResponse.of(answer)

    def shoot(self, requestType: str, data: Any = None, timeout: Optional[float] = None,
              key: Optional[str] = None) -> bool:
        """Sends to one actor of the category without waiting for an answer."""
        status, _ = self._beach._call("POST", "/v1/shoot", self._body(requestType, data, timeout, key, None))
        return status == 200

    def broadcast(self, requestType: str, data: Any = None) -> int:
        """Sends to every actor of the category; how many it reached."""
        status, answer = self._beach._call("POST", "/v1/broadcast", self._body(requestType, data, None, None, None))
        return int(answer.get("sent", 0)) if status == 200 and isinstance(answer, dict) else 0

    def requestFromAll(self, requestType: str, data: Any = None, timeout: Optional[float] = None) -> FutureResults:
        """Asks every actor of the category; the answers arrive in the ``FutureResults``."""
        body = self._body(requestType, data, timeout, None, None)
        body["all"] = True
        results = FutureResults()

        def read() -> None:
            try:
                for line in self._beach._gateways.stream("/v1/request", body, self._beach._headers(), body.get("timeout")):
                    results._add(ActorResponse.of(line))
            except Exception as e:  # a gateway gone mid-stream: what came stays
                results._add(ActorResponse(False, None, f"unreachable: {e}"))
            finally:
                results._finish()

        threading.Thread(target=read, name="beach-request-from-all", daemon=True).start()
        return results

    def getNumAvailable(self) -> int:
        """How many actors the category has now (an actor in several of its sub-categories
        counts once; the gateway's directory already matches the prefix)."""
        return len({uid for ids in self._beach._directory(self.category).values() for uid in ids})

    def isAvailable(self) -> bool:
        """Whether the category has an actor now."""
        return self.getNumAvailable() > 0

    def getPending(self) -> Dict[str, int]:
        """Requests in flight from this handle, by category (the gateway picks the actor)."""
        with self._lock:
            return {c: n for c, n in self._pending.items() if n}

    def close(self) -> None:
        """Nothing to release: connections belong to the client."""

    request_from_all = requestFromAll
    get_num_available = getNumAvailable
    is_available = isAvailable
    get_pending = getPending


class ActorHandleGroup:
    """One actor of each sub-category below a root, as py-beach's group handle."""

    def __init__(self, beach: "Beach", categoryRoot: str, mode: str = "random", nRetries: Optional[int] = None,
                 timeout: Optional[float] = None, ident: Optional[str] = None) -> None:
        self._handle = ActorHandle(beach, categoryRoot.rstrip("/"), mode, nRetries, timeout, ident)

    def request(self, requestType: str, data: Any = None, timeout: Optional[float] = None,
                key: Optional[str] = None, nRetries: Optional[int] = None) -> FutureResults:
        """Asks one actor of each sub-category; the answers arrive in the ``FutureResults``."""
        h = self._handle
        body = h._body(requestType, data, timeout, key, nRetries)
        results = FutureResults()

        def ask() -> None:
            try:
                status, answer = h._beach._call("POST", "/v1/group", body, wait=body.get("timeout"))
                replies = answer.get("replies", []) if status == 200 and isinstance(answer, dict) else []
                if status != 200:
                    results._add(ActorResponse.of(answer if isinstance(answer, dict) else {"error": str(answer)}))
                for r in replies:
                    results._add(ActorResponse.of(r))
            except GatewayError as e:
                results._add(ActorResponse(False, None, f"unreachable: {e}"))
            finally:
                results._finish()

        threading.Thread(target=ask, name="beach-group-request", daemon=True).start()
        return results

    def shoot(self, requestType: str, data: Any = None, timeout: Optional[float] = None,
              key: Optional[str] = None) -> int:
        """Sends to one actor of each sub-category without waiting; how many it reached."""
        h = self._handle
        sent = 0
        for sub in h._beach._directory_subcategories(h.category):
            one = ActorHandle(h._beach, f"{h.category}/{sub}", h.mode, h.nRetries, h.timeout, h.ident)
            sent += one.shoot(requestType, data, timeout, key)
        return sent

    def getPending(self) -> Dict[str, int]:
        return self._handle.getPending()

    def close(self) -> None:
        """Nothing to release."""

    get_pending = getPending


class Beach:
    """A client of a beach cluster through its HTTP gateways, with py-beach's API."""

    def __init__(self, configFile: Optional[str] = None, realm: str = "global", extraTmpSeedNode: Optional[str] = None,
                 isInteractive: bool = False, gateways: Optional[List[str]] = None, timeout: float = 60.0) -> None:
        """``extraTmpSeedNode`` and ``isInteractive`` are py-beach's, accepted so its callers run
        unchanged: the gateways route to every node, so neither changes anything here."""
        config: Dict[str, Any] = {}
        if configFile is not None:
            try:
                import yaml
            except ImportError as e:  # pragma: no cover - depends on the machine
                raise ImportError("reading cluster.yaml needs PyYAML: pip install pyyaml") from e
            with open(configFile, encoding="utf-8") as f:
                config = yaml.safe_load(f) or {}
            if not isinstance(config, dict):
                raise ValueError(f"{configFile}: not a mapping of settings")
        env = os.environ.get("BEACH_GATEWAY")
        urls = gateways or ([u.strip() for u in env.split(",") if u.strip()] if env else gateways_of(config))
        self._gateways = _Gateways(urls, timeout)
        self.realm = realm
        self._admin_token: Optional[str] = config.get("admin_token")
        self._http_token: Optional[str] = config.get("http_token")

    # -- plumbing ----------------------------------------------------------------------------

    def _headers(self, admin: bool = False) -> Dict[str, str]:
        token = self._admin_token if admin else (self._http_token or self._admin_token)
        return {"Authorization": f"Bearer {token}"} if token else {}

    def _call(self, method: str, path: str, body: Any = None, admin: bool = False,
              wait: Optional[float] = None) -> Tuple[int, Any]:
        return self._gateways.call(method, path, body, self._headers(admin), wait)

    def _directory(self, prefix: str = "") -> Dict[str, List[str]]:
        q = urllib.parse.urlencode({"realm": self.realm, "category": prefix})
        status, answer = self._call("GET", f"/v1/directory?{q}")
        return answer.get("categories", {}) if status == 200 and isinstance(answer, dict) else {}

    def _directory_subcategories(self, root: str) -> List[str]:
        root = root.rstrip("/") + "/"
        subs = {c[len(root):].split("/")[0] for c in self._directory(root) if c.startswith(root)}
        return sorted(s for s in subs if s)

    # -- py-beach's API ----------------------------------------------------------------------

    def setRealm(self, realm: str) -> str:
        """Works in another realm from now on; returns the previous one."""
        old, self.realm = self.realm, realm
        return old

    def addActor(self, actorName: str, category: Union[str, List[str]], strategy: str = "random",
                 strategy_hint: Optional[str] = None, parameters: Optional[Dict[str, Any]] = None,
                 resources: Optional[Dict[str, str]] = None, isIsolated: bool = False,
                 secretIdent: Optional[str] = None, trustedIdents: Optional[List[str]] = None,
                 n_concurrent: int = 1, owner: Optional[str] = None, isDrainable: bool = False,
                 trace: bool = False) -> Dict[str, Any]:
        """Spawns an actor; ``{'status': {'success': True}, 'data': {'uid': id}}`` or the error.

        ``n_concurrent`` was py-beach's initial number of handlers (it grew them up to 100);
        beach's actors serve requests concurrently already, so it never makes one stricter."""
        body: Dict[str, Any] = {
            "realm": self.realm, "type": actorName,
            "categories": [category] if isinstance(category, str) else list(category),
            "strategy": strategy, "params": parameters or {}, "resources": resources or {},
            "isolated": bool(isIsolated), "trust": list(trustedIdents or []), "drainable": bool(isDrainable),
            "trace": bool(trace),
        }
        if strategy_hint is not None:
            body["hint"] = strategy_hint
        if secretIdent is not None:
            body["ident"] = secretIdent
        if owner is not None:
            body["owner"] = owner
        status, answer = self._call("POST", "/v1/spawn", body, admin=True)
        out = _reply(status, answer)
        if status == 200:
            actors = answer.get("actors", [])
            out["data"] = {"uid": actors[0]["id"] if actors else None, "node": actors[0]["node"] if actors else None}
        return out

    def getActorHandle(self, category: str, mode: str = "random", nRetries: Optional[int] = None,
                       timeout: Optional[float] = None, ident: Optional[str] = None) -> ActorHandle:
        return ActorHandle(self, category, mode, nRetries, timeout, ident)

    def getActorHandleGroup(self, categoryRoot: str, mode: str = "random", nRetries: Optional[int] = None,
                            timeout: Optional[float] = None, ident: Optional[str] = None) -> ActorHandleGroup:
        return ActorHandleGroup(self, categoryRoot, mode, nRetries, timeout, ident)

    def getDirectory(self) -> Dict[str, Any]:
        """``{'realms': {realm: {category: {uid: endpoint}}}}`` for this client's realm."""
        cats = self._directory("")
        return {"realms": {self.realm: {c: {uid: uid.split("@", 1)[-1].split("#", 1)[0] for uid in ids}
                                        for c, ids in cats.items()}}}

    def getNodeCount(self) -> int:
        status, answer = self._call("GET", "/v1/nodes")
        return len(answer.get("nodes", [])) if status == 200 and isinstance(answer, dict) else 0

    def flush(self) -> bool:
        """Stops every actor in every realm; whether it worked."""
        status, _ = self._call("POST", "/v1/flush", {}, admin=True)
        return status == 200

    def stopActors(self, withId: Optional[Union[str, List[str]]] = None,
                   withCategory: Optional[Union[str, List[str]]] = None, delay: Optional[float] = None) -> Dict[str, Any]:
        """Stops actors by id and by category prefix; the reply's data lists those stopped."""
        ids = [withId] if isinstance(withId, str) else list(withId or [])
        cats = [withCategory] if isinstance(withCategory, str) else list(withCategory or [])
        body: Dict[str, Any] = {"realm": self.realm, "ids": ids, "categories": cats}
        if delay:
            body["delay"] = float(delay)
        status, answer = self._call("POST", "/v1/stop", body, admin=True)
        out = _reply(status, answer)
        if status == 200:
            out["data"] = {"stopped": answer.get("stopped", [])}
        return out

    def getClusterHealth(self) -> Dict[str, Dict[str, float]]:
        """Each node's CPU and memory use (0 to 1)."""
        status, answer = self._call("GET", "/v1/health")
        nodes = answer.get("nodes", []) if status == 200 and isinstance(answer, dict) else []
        return {n["address"]: {"cpu": n["cpu"], "mem": n["memory"]} for n in nodes}

    def getLoadInfo(self) -> Dict[str, Dict[str, Any]]:
        """Each actor's counters: requests, errors, latency, its own counters."""
        status, answer = self._call("GET", "/v1/load")
        actors = answer.get("actors", []) if status == 200 and isinstance(answer, dict) else []
        return {a["id"]: a for a in actors}

    def getAllNodeMetadata(self) -> Dict[str, Dict[str, Any]]:
        """Each node's reply, whose ``data.mtd`` maps actor ids to their metadata (private
        parameters shown as ``<PRIVATE>``)."""
        status, answer = self._call("GET", "/v1/metadata", admin=True)
        if status != 200 or not isinstance(answer, dict):
            error = answer.get("error") if isinstance(answer, dict) else str(answer)
            return {"*": {"status": {"success": False, "error": error}}}
        out: Dict[str, Dict[str, Any]] = {}
        for n in answer.get("nodes", []):
            mtd = {a["id"]: {"realm": a["realm"], "name": a["type"], "cat": a["categories"], "params": a["params"],
                             "isolated": a["isolated"], "owner": a["owner"]} for a in n.get("actors", [])}
            out[n["node"]] = {"status": {"success": True}, "data": {"mtd": mtd}}
        return out

    def addToCategory(self, actorId: str, category: str) -> Dict[str, Any]:
        status, answer = self._call("POST", "/v1/categorize", {"id": actorId, "category": category}, admin=True)
        return _reply(status, answer)

    def removeFromCategory(self, actorId: str, category: str) -> Dict[str, Any]:
        status, answer = self._call("POST", "/v1/uncategorize", {"id": actorId, "category": category}, admin=True)
        return _reply(status, answer)

    def close(self) -> None:
        """Closes the connections."""
        self._gateways.close()

    add_actor = addActor
    get_actor_handle = getActorHandle
    get_actor_handle_group = getActorHandleGroup
    get_directory = getDirectory
    get_node_count = getNodeCount
    stop_actors = stopActors
    get_cluster_health = getClusterHealth
    get_load_info = getLoadInfo
    get_all_node_metadata = getAllNodeMetadata
    add_to_category = addToCategory
    remove_from_category = removeFromCategory
    set_realm = setRealm
