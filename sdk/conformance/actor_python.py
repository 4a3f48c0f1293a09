"""The Python SDK's conformance actor: what every SDK's conformance actor answers alike."""
from beach.actor import Actor


class Conformance(Actor):
    def init(self, parameters, resources):
        if parameters.get("fail"):
            raise RuntimeError("asked to fail")
        self.handle("echo", lambda msg: msg.data)
        self.handle("fail", lambda msg: (False, "refused", msg.data))
        self.handle("raise", self.boom)
        self.handle("call", self.call)

    def boom(self, msg):
        raise ValueError("boom")

    def call(self, msg):
        r = self.getActorHandle(msg.data["category"]).request("ping", msg.data.get("data"), timeout=5)
        return {"ok": r.isSuccess, "data": r.data, "error": r.error}
