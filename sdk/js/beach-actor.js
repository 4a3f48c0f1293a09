// A small beach actor SDK for JavaScript (Node.js), with no dependencies: the actor protocol
// (docs/actor-protocol.md) over the socket a node hands its program, with a CBOR codec of its
// own. It shows that the protocol is not Python-shaped; the conformance transcripts run
// against it as against the Python SDK.
//
//   #!/usr/bin/env node
//   const { serve } = require("/path/to/beach-actor.js");
//   serve({ init: (actor, parameters) => actor.handle("upper", (msg) => String(msg.data).toUpperCase()) });
//
// A handler returns its answer's data (or a Promise of it); throwing answers the error
// `exception` with the stack as data; `actor.fail(message, data)` answers an error of its own.
// `actor.request(category, kind, data, {timeout_ms, mode, key, retries})` calls other actors.
"use strict";

const net = require("net");

const VERSION = 1;

// ---- CBOR (RFC 8949): the subset the protocol uses ------------------------------------------

function encode(value) {
  const out = [];
  const head = (major, n) => {
    if (n < 24) out.push((major << 5) | n);
    else if (n < 0x100) out.push((major << 5) | 24, n);
    else if (n < 0x10000) out.push((major << 5) | 25, n >> 8, n & 0xff);
    else if (n < 0x100000000) out.push((major << 5) | 26, (n >>> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff);
    else {
      const hi = Math.floor(n / 0x100000000), lo = n >>> 0;
      out.push((major << 5) | 27, (hi >>> 24) & 0xff, (hi >> 16) & 0xff, (hi >> 8) & 0xff, hi & 0xff,
        (lo >>> 24) & 0xff, (lo >> 16) & 0xff, (lo >> 8) & 0xff, lo & 0xff);
    }
  };
  const item = (v) => {
    if (v === null || v === undefined) out.push(0xf6);
    else if (v === false) out.push(0xf4);
    else if (v === true) out.push(0xf5);
    else if (typeof v === "number") {
      if (Number.isSafeInteger(v)) { if (v >= 0) head(0, v); else head(1, -1 - v); }
      else { const b = Buffer.alloc(9); b[0] = 0xfb; b.writeDoubleBE(v, 1); out.push(...b); }
    } else if (typeof v === "string") { const b = Buffer.from(v, "utf8"); head(3, b.length); out.push(...b); }
    else if (Buffer.isBuffer(v) || v instanceof Uint8Array) { head(2, v.length); out.push(...v); }
    else if (Array.isArray(v)) { head(4, v.length); v.forEach(item); }
    else if (typeof v === "object") {
      const keys = Object.keys(v).filter((k) => v[k] !== undefined);
      head(5, keys.length);
      for (const k of keys) { item(k); item(v[k]); }
    } else throw new TypeError(`cannot encode ${typeof v} as CBOR`);
  };
  item(value);
  return Buffer.from(out);
}

function decode(buf) {
  let pos = 0;
  const need = (n) => { if (pos + n > buf.length) throw new Error("truncated CBOR"); };
  const arg = (info) => {
    if (info < 24) return info;
    const sizes = { 24: 1, 25: 2, 26: 4, 27: 8 };
    const n = sizes[info];
    if (!n) throw new Error(`unsupported CBOR length ${info}`);
    need(n);
    let v = 0;
    for (let i = 0; i < n; i++) v = v * 256 + buf[pos++];
    return v;
  };
  const item = () => {
    need(1);
    const b = buf[pos++], major = b >> 5, info = b & 31;
    switch (major) {
      case 0: return arg(info);
      case 1: return -1 - arg(info);
      case 2: { const n = arg(info); need(n); const v = Buffer.from(buf.subarray(pos, pos + n)); pos += n; return v; }
      case 3: { const n = arg(info); need(n); const v = buf.toString("utf8", pos, pos + n); pos += n; return v; }
      case 4: { const n = arg(info); const a = []; for (let i = 0; i < n; i++) a.push(item()); return a; }
      case 5: { const n = arg(info); const m = {}; for (let i = 0; i < n; i++) { const k = item(); m[String(k)] = item(); } return m; }
      case 6: arg(info); return item(); // a tag: its content
      case 7:
        if (info === 20) return false;
        if (info === 21) return true;
        if (info === 22 || info === 23) return null;
        if (info === 25) { need(2); const v = buf.readUInt16BE(pos); pos += 2; return halfToFloat(v); }
        if (info === 26) { need(4); const v = buf.readFloatBE(pos); pos += 4; return v; }
        if (info === 27) { need(8); const v = buf.readDoubleBE(pos); pos += 8; return v; }
        throw new Error(`unsupported CBOR simple value ${info}`);
    }
    throw new Error("unreachable");
  };
  const v = item();
  if (pos !== buf.length) throw new Error(`${buf.length - pos} bytes after the CBOR value`);
  return v;
}

function halfToFloat(h) {
  const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, f = h & 0x3ff;
  if (e === 0) return s * Math.pow(2, -14) * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * Math.pow(2, e - 15) * (1 + f / 1024);
}

// ---- the protocol ---------------------------------------------------------------------------

class Failure {
  constructor(message, data) { this.message = message; this.data = data === undefined ? null : data; }
}

// Serves actors on the socket in BEACH_ACTOR_FD: `definition.init(actor, parameters, resources)`
// sets each actor up (it may return a Promise); `definition.deinit(actor)` runs when it stops.
function serve(definition) {
  const fd = Number(process.env.BEACH_ACTOR_FD);
  if (!Number.isInteger(fd)) { console.error("this program runs actors for a beach node, which starts it"); process.exit(2); }
  const socket = new net.Socket({ fd, readable: true, writable: true });
  let maxFrame = 16 * 1024 * 1024;
  let welcomed = false;
  let pending = Buffer.alloc(0);
  let nextCid = 0;
  const calls = new Map();
  const actors = new Map();
  const send = (frame) => {
    const body = encode(frame);
    const head = Buffer.alloc(4);
    head.writeUInt32BE(body.length);
    socket.write(Buffer.concat([head, body]));
  };
  const fail = (why) => { console.error(`beach: ${why}`); process.exit(1); };

  const makeActor = (n, init) => ({
    id: init.id, realm: init.realm, categories: init.categories, handlers: new Map(),
    handle(kind, fn) { this.handlers.set(kind, fn); },
    fail: (message, data) => new Failure(message, data),
    log: (message, level = "info") => send({ t: "log", actor: n, level, message: String(message) }),
    stat: (name, value) => send({ t: "stat", actor: n, name, value: Number(value) }),
    stop: () => send({ t: "stop_self", actor: n }),
    call(op, keys) {
      const cid = ++nextCid;
      return new Promise((resolve) => { calls.set(cid, resolve); send({ t: "call", actor: n, cid, op, ...keys }); });
    },
    request(category, kind, data = null, options = {}) { return this.call("request", { category, kind, data, ...options }); },
  });

  const answer = (rid, outcome) => Promise.resolve(outcome).then(
    (data) => data instanceof Failure
      ? send({ t: "answer", rid, ok: false, error: data.message, data: data.data })
      : send({ t: "answer", rid, ok: true, data: data === undefined ? null : data }),
    (error) => send({ t: "answer", rid, ok: false, error: "exception", data: String(error && error.stack || error) }));

  const onFrame = (f) => {
    if (!welcomed) {
      if (f.t !== "welcome") fail(`the node refused: ${f.error || f.t}`);
      if (f.version !== VERSION) fail(`the node speaks protocol ${f.version}, this SDK ${VERSION}`);
      maxFrame = f.max_frame || maxFrame;
      welcomed = true;
      return;
    }
    switch (f.t) {
      case "ping": send({ t: "pong", n: f.n }); break;
      case "result": { const r = calls.get(f.cid); calls.delete(f.cid); if (r) r({ ok: f.ok, data: f.data, error: f.error || null }); break; }
      case "init": {
        const actor = makeActor(f.actor, f);
        Promise.resolve().then(() => definition.init(actor, f.parameters || {}, f.resources || {})).then(
          () => { actors.set(f.actor, actor); send({ t: "ready", actor: f.actor }); },
          (e) => send({ t: "failed", actor: f.actor, error: `init failed: ${e && e.message || e}`, data: String(e && e.stack || e) }));
        break;
      }
      case "request": {
        const actor = actors.get(f.actor);
        const fn = actor && actor.handlers.get(f.kind);
        if (!actor) send({ t: "answer", rid: f.rid, ok: false, error: "wrong dest", data: null });
        else if (!fn) send({ t: "answer", rid: f.rid, ok: false, error: "request type not supported by actor", data: null });
        else answer(f.rid, new Promise((resolve) => resolve(fn({ id: f.rid, req: f.kind, data: f.data, ident: f.ident, dst: actor.id }))));
        break;
      }
      case "drain": send({ t: "drained", actor: f.actor }); break;
      case "stop": {
        const actor = actors.get(f.actor);
        actors.delete(f.actor);
        Promise.resolve().then(() => actor && definition.deinit && definition.deinit(actor))
          .finally(() => send({ t: "stopped", actor: f.actor }));
        break;
      }
      default: console.error(`beach: unexpected frame ${f.t}; ignored`);
    }
  };

  socket.on("data", (chunk) => {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= 4) {
      const len = pending.readUInt32BE(0);
      if (len === 0 || len > maxFrame) fail(`bad frame length ${len}`);
      if (pending.length < 4 + len) break;
      const body = pending.subarray(4, 4 + len);
      pending = pending.subarray(4 + len);
      let frame;
      try { frame = decode(body); } catch (e) { fail(`malformed frame: ${e.message}`); }
      if (frame === null || typeof frame !== "object" || typeof frame.t !== "string") fail("a frame must be a map with a text key t");
      onFrame(frame);
    }
  });
  socket.on("end", () => process.exit(0));
  socket.on("error", () => process.exit(0));
  send({ t: "hello", version: VERSION, sdk: "beach-js/0.1.0" });
}

module.exports = { serve, encode, decode, VERSION };
