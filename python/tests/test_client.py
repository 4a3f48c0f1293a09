"""The client's pieces that need no cluster: where the gateways are, reply documents."""

from __future__ import annotations

import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from beach.beach_api import Beach, GatewayError, gateways_of  # noqa: E402
from beach.utils import getMessageError, isMessageSuccess  # noqa: E402


class GatewaysTest(unittest.TestCase):
    def test_http_names_the_gateway_and_a_wildcard_means_each_seed(self) -> None:
        self.assertEqual(gateways_of({"http": "127.0.0.1:8080"}), ["http://127.0.0.1:8080"])
        cfg = {"http": "0.0.0.0:8080", "seed_nodes": ["10.0.0.2:4999", "10.0.0.1:4999", "10.0.0.1:5000"]}
        self.assertEqual(gateways_of(cfg), ["http://10.0.0.1:8080", "http://10.0.0.2:8080"])
        self.assertEqual(gateways_of({"http": "[::1]:8080"}), ["http://[::1]:8080"])
        self.assertEqual(gateways_of({}), [])

    def test_a_config_without_gateway_is_an_error_naming_the_fix(self) -> None:
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            f.write("cluster_name: x\nadmin_token: t\n")
        try:
            os.environ.pop("BEACH_GATEWAY", None)
            with self.assertRaisesRegex(GatewayError, "BEACH_GATEWAY"):
                Beach(f.name)
            os.environ["BEACH_GATEWAY"] = "http://127.0.0.1:1"
            b = Beach(f.name)
            self.assertEqual(b._admin_token, "t")
            # Nothing listens there: a request fails as unreachable, it does not raise.
            resp = b.getActorHandle("x").request("ping", timeout=1)
            self.assertFalse(resp.isSuccess)
            self.assertIn("unreachable", resp.error)
        finally:
            os.environ.pop("BEACH_GATEWAY", None)
            os.unlink(f.name)

    def test_reply_documents(self) -> None:
        self.assertTrue(isMessageSuccess({"status": {"success": True}}))
        self.assertFalse(isMessageSuccess({"status": {"success": False, "error": "unprivileged"}}))
        self.assertFalse(isMessageSuccess(None))
        self.assertEqual(getMessageError({"status": {"success": False, "error": "unprivileged"}}), "unprivileged")


if __name__ == "__main__":
    unittest.main()
