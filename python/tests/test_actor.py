"""Unit tests of the Python SDK's actor API, without a cluster (``python3 -m unittest discover -s python/tests``)."""

from __future__ import annotations

import io
import os
import sys
import tempfile
import threading
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from beach.actor import Actor, ActorResponse, RequestMsg, answer_of, current_actor, init_arity  # noqa: E402
from beach.host import TaggedStream  # noqa: E402


class Conventions(Actor):
    def init(self, parameters):
        self.seen = parameters
        self.handle("bare", lambda msg: (True,))
        self.handle("data", lambda msg: (True, {"x": msg.data}))
        self.handle("no", lambda msg: (False, "refused"))
        self.handle("no_data", lambda msg: (False, "refused", {"why": 1}))
        self.handle("plain", lambda msg: {"time": 1.0})
        self.handle("tuple", lambda msg: (1, 2))
        self.handle("none", lambda msg: None)
        self.handle("raise", self.raiser)
        self.handle("async", self.aio)
        self.handle("ident", lambda msg: msg.ident)

    def raiser(self, msg):
        raise KeyError("missing")

    async def aio(self, msg):
        return (True, msg.data * 2)


class TwoArgs(Actor):
    def init(self, parameters, resources):
        self.resources = resources


class InitAndCounters(unittest.TestCase):
    def test_init_takes_one_or_two_arguments(self):
        a = Conventions.initTestActor({"a": 1})
        self.assertEqual(a.seen, {"a": 1})
        b = TwoArgs.initTestActor({}, {"db": "svc/db"})
        self.assertEqual(b.resources, {"db": "svc/db"})
        self.assertEqual(init_arity(lambda p: None), 1)
        self.assertEqual(init_arity(lambda p, r=None: None), 2)
        self.assertEqual(init_arity(lambda *a: None), 2)

    def test_counters(self):
        a = Conventions.initTestActor()
        self.assertIsNone(a.zGet("n"))
        a.zInc("n")
        a.zInc("n", 4)
        self.assertEqual(a.zGet("n"), 5)
        a.zSet("n", 2)
        self.assertEqual(a.z_get("n"), 2)

    def test_calls_of_a_test_actor_fail_without_a_cluster(self):
        a = Conventions.initTestActor()
        r = a.getActorHandle("svc/x").request("ping", {})
        self.assertFalse(r.isSuccess)
        self.assertIn("no cluster", r.error)
        self.assertEqual(a.getLastError(), r.error)


class ReturnConventions(unittest.TestCase):
    def setUp(self):
        self.a = Conventions.initTestActor()

    def test_py_beach_tuples(self):
        r = self.a.mockRequest("bare")
        self.assertTrue(r.isSuccess)
        self.assertIsNone(r.data)
        self.assertEqual(self.a.mockRequest("data", 3).data, {"x": 3})
        r = self.a.mockRequest("no")
        self.assertEqual((r.isSuccess, r.error, r.data), (False, "refused", None))
        r = self.a.mockRequest("no_data")
        self.assertEqual((r.isSuccess, r.error, r.data), (False, "refused", {"why": 1}))

    def test_plain_values_are_success_data(self):
        self.assertEqual(self.a.mockRequest("plain").data, {"time": 1.0})
        self.assertEqual(self.a.mockRequest("tuple").data, (1, 2))
        r = self.a.mockRequest("none")
        self.assertTrue(r.isSuccess)
        self.assertIsNone(r.data)

    def test_exceptions_unknown_kinds_and_async_handlers(self):
        r = self.a.mockRequest("raise")
        self.assertEqual(r.error, "exception")
        self.assertIn("KeyError", r.data)
        self.assertIn("Traceback", r.data)
        r = self.a.mockRequest("nothing")
        self.assertEqual(r.error, "request type not supported by actor")
        self.assertEqual(self.a.mockRequest("async", 21).data, 42)
        self.assertEqual(self.a.mock_request("ident", None, ident="me").data, "me")
        self.a.unhandle("plain")
        self.assertFalse(self.a.mockRequest("plain").isSuccess)

    def test_answer_of(self):
        self.assertEqual(answer_of((True, 1)), (True, 1, None))
        self.assertEqual(answer_of((False,)), (False, None, "error"))
        self.assertEqual(answer_of([True, 1]), (True, [True, 1], None))

    def test_str_shows_the_fields(self):
        msg = RequestMsg(7, "ping", "1@a:1#2", {"t": 1}, "me")
        for part in ("id=7", "req='ping'", "dst='1@a:1#2'", "ident='me'", "data={'t': 1}"):
            self.assertIn(part, str(msg))
        r = ActorResponse(False, {"d": 1}, "timeout")
        self.assertTrue(r.isTimedOut)
        for part in ("isSuccess=False", "isTimedOut=True", "error='timeout'", "data={'d': 1}"):
            self.assertIn(part, str(r))


class Helpers(unittest.TestCase):
    def test_retry(self):
        a = Conventions.initTestActor()
        tries = []

        def flaky():
            tries.append(1)
            if len(tries) < 3:
                raise IOError("not yet")
            return "done"

        self.assertEqual(a.retry(5, 0, flaky), "done")
        self.assertEqual(len(tries), 3)
        with self.assertRaises(IOError):
            a.retry(2, 0, lambda: (_ for _ in ()).throw(IOError("never")))

    def test_relative_files_and_libraries_by_content_hash(self):
        with tempfile.TemporaryDirectory() as d:
            a = Conventions.initTestActor()
            a._folder = d
            with open(os.path.join(d, "notes.txt"), "w") as f:
                f.write("hello")
            self.assertEqual(a.readRelativeFile("notes.txt"), "hello")
            with self.assertRaises(ValueError):
                a.readRelativeFile("../outside.txt")
            with open(os.path.join(d, "helper.py"), "w") as f:
                f.write("VERSION = 1\nclass Tool:\n    pass\n")
            v1 = a.importLib("helper")
            self.assertEqual(v1.VERSION, 1)
            self.assertIs(a.importLib("helper.py"), v1)
            with open(os.path.join(d, "helper.py"), "w") as f:
                f.write("VERSION = 2\n")
            v2 = a.import_lib("helper")
            self.assertEqual((v1.VERSION, v2.VERSION), (1, 2))
            self.assertNotEqual(v1.__name__, v2.__name__)


class Output(unittest.TestCase):
    def test_printed_lines_start_with_the_actor_id(self):
        raw = io.StringIO()
        out = TaggedStream(raw)

        def actor_prints(name):
            current_actor.set(name)
            print("hello", "there", file=out)
            out.write("partial ")
            out.write("line\n")

        threads = [threading.Thread(target=actor_prints, args=(f"a{i}",)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        print("untagged", file=out)
        lines = raw.getvalue().splitlines()
        for i in range(3):
            self.assertIn(f"[a{i}] hello there", lines)
            self.assertIn(f"[a{i}] partial line", lines)
        self.assertIn("untagged", lines)


if __name__ == "__main__":
    unittest.main()
