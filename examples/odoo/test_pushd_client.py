"""Unit tests of the signing and verifying half: python3 -m unittest test_pushd_client."""

import json
import unittest

import pushd_client as pc

SECRET = "whsec_Y2FsbGJhY2stc2VjcmV0LWZvci10ZXN0cw=="
OTHER = "whsec_b3RoZXI="


class SignTest(unittest.TestCase):
    def test_spec_vector(self):
        # The Standard Webhooks specification's own example.
        got = pc.sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330,
                      b'{"test": 2432232314}')
        self.assertEqual(got, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")

    def test_bound_to_target(self):
        # A write's signature covers its method and path: re-aimed, it no longer matches.
        cancel = pc.signed_headers(SECRET, pc.bound("POST", "/api/v1/jobs/job-7/cancel", b""), "msg_1", 1_700_000_000)
        delete = pc.sign(SECRET, "msg_1", 1_700_000_000, pc.bound("DELETE", "/api/v1/clusters/prod-1", b""))
        self.assertNotEqual(cancel["webhook-signature"], delete)
        self.assertEqual(pc.bound("PUT", "/api/v1/clusters/c1", b"{}"), b"PUT /api/v1/clusters/c1\n{}")

    def test_bad_secrets(self):
        for bad in ["", "secret", "whsec_", "whsec_!!!"]:
            with self.assertRaises(ValueError, msg=bad):
                pc.parse_secret(bad)


class VerifyCallbackTest(unittest.TestCase):
    now = 1_700_000_000
    body = json.dumps({"type": "job.status_changed", "id": "evt_1", "timestamp": "2023-11-14T22:13:20Z",
                       "organization": "acme", "cluster": "prod-1", "data": {"id": "job-1"}}).encode()

    def headers(self, secret=SECRET, ts=None, body=None, msg_id="evt_1"):
        return pc.signed_headers(secret, body or self.body, msg_id, self.now if ts is None else ts)

    def verify(self, headers, body=None, secret=SECRET):
        return pc.verify_callback(headers, body or self.body, secret, now=self.now)

    def test_accepts(self):
        cases = {
            "valid": (self.headers(), SECRET),
            "header names in any case": ({k.upper(): v for k, v in self.headers().items()}, SECRET),
            "rotation: old secret still listed": (self.headers(OTHER), [SECRET, OTHER]),
            "edge of the window": (self.headers(ts=self.now - 300), SECRET),
            "several signatures, one valid": (
                {**self.headers(), "webhook-signature": pc.sign(OTHER, "evt_1", self.now, self.body) + " "
                 + self.headers()["webhook-signature"]}, SECRET),
        }
        for name, (headers, secret) in cases.items():
            with self.subTest(name):
                self.assertEqual(self.verify(headers, secret=secret)["cluster"], "prod-1")

    def test_rejects(self):
        tampered = self.body.replace(b"prod-1", b"prod-2")
        cases = {
            "body tampered": (self.headers(), tampered),
            "unknown secret": (self.headers(OTHER), None),
            "stale": (self.headers(ts=self.now - 301), None),
            "future": (self.headers(ts=self.now + 301), None),
            "id changed": ({**self.headers(), "webhook-id": "evt_2"}, None),
            "missing signature": ({k: v for k, v in self.headers().items() if k != "webhook-signature"}, None),
            "timestamp not a number": ({**self.headers(), "webhook-timestamp": "yesterday"}, None),
            "timestamp re-spelled": ({**self.headers(), "webhook-timestamp": "+000" + str(self.now)}, None),
            "signature not ASCII": ({**self.headers(), "webhook-signature": "v1,é"}, None),
            "body id is not webhook-id": (self.headers(msg_id="evt_9"), None),
        }
        for name, (headers, body) in cases.items():
            with self.subTest(name):
                with self.assertRaises(pc.VerificationError):
                    self.verify(headers, body)


if __name__ == "__main__":
    unittest.main()
