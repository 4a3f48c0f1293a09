#!/usr/bin/env node
// The JavaScript SDK's conformance actor: answers as the Python one does.
"use strict";
const { serve } = require("../js/beach-actor.js");

serve({
  init: (actor, parameters) => {
    if (parameters.fail) throw new Error("asked to fail");
    actor.handle("echo", (msg) => msg.data);
    actor.handle("fail", (msg) => actor.fail("refused", msg.data));
    actor.handle("raise", () => { throw new Error("boom"); });
    actor.handle("call", async (msg) => {
      const r = await actor.request(msg.data.category, "ping", msg.data.data === undefined ? null : msg.data.data, { timeout_ms: 5000 });
      return { ok: r.ok, data: r.data, error: r.error };
    });
  },
});
