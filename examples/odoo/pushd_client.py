#!/usr/bin/env python3
"""What Odoo does with pushd, in the Python standard library alone.

pushd's contract (api/openapi.yaml) in both directions:

* Odoo -> pushd: every write (POST, PUT, DELETE under /api/v1) is signed per
  Standard Webhooks with a ``whsec_...`` secret; every read carries
  ``Authorization: Bearer <token>``.
* pushd -> Odoo: callbacks are POSTed to Odoo signed the same way with the
  callback secret; Odoo verifies them, refuses bad ones with 401, and
  deduplicates on ``webhook-id`` (delivery is at least once).

Use it as a library (``sign``, ``Client``, ``verify_callback``) or as a CLI::

    export PUSHD_URL=http://127.0.0.1:8080
    export PUSHD_WEBHOOK_SECRET=whsec_...   # signs writes
    export PUSHD_API_TOKEN=...              # authenticates reads
    python3 pushd_client.py put-cluster prod-1 --namespaces nextcloud --applications nextcloud \\
        --operations manifest/deploy
    python3 pushd_client.py submit-job job.json
    python3 pushd_client.py get /api/v1/jobs/job-7d0c2f

    export PUSHD_CALLBACK_SECRET=whsec_...  # verifies callbacks
    python3 pushd_client.py serve-callbacks --port 8069
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import http.server
import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections import OrderedDict
from typing import Iterable, Mapping

TOLERANCE_SECONDS = 300  # how far a timestamp may be in the past or the future


# --- Standard Webhooks -------------------------------------------------------


def parse_secret(secret: str) -> bytes:
    """Decode a ``whsec_<base64 key>`` secret into its key."""
    if not secret.startswith("whsec_"):
        raise ValueError("webhook secret must start with whsec_")
    try:
        key = base64.b64decode(secret[len("whsec_"):], validate=True)
    except ValueError as err:
        raise ValueError("webhook secret: whsec_ must be followed by base64") from err
    if not key:
        raise ValueError("webhook secret: empty key")
    return key


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The v1 signature of one message: base64(HMAC-SHA256(key, id.timestamp.body))."""
    mac = hmac.new(parse_secret(secret), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


def signed_headers(secret: str, body: bytes, msg_id: str | None = None, timestamp: int | None = None) -> dict:
    """The three headers that sign body; msg_id is the idempotency key (new when None)."""
    msg_id = msg_id or "msg_" + uuid.uuid4().hex
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, msg_id, timestamp, body),
    }


class VerificationError(Exception):
    """A callback that must be refused with 401."""


def verify_callback(headers: Mapping[str, str], body: bytes, secret: str | Iterable[str], now: float | None = None) -> dict:
    """Verify a callback from pushd and return its event.

    headers may be any mapping (names are matched case-insensitively); secret
    is one ``whsec_...`` secret or several (rotation: any may match any listed
    signature). Raises VerificationError when a header is missing, the
    timestamp is more than 300 s off, or no signature matches.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    msg_id = lower.get("webhook-id", "")
    ts_raw = lower.get("webhook-timestamp", "")
    sigs = lower.get("webhook-signature", "")
    if not (msg_id and ts_raw and sigs):
        raise VerificationError("missing webhook-id, webhook-timestamp or webhook-signature header")
    try:
        ts = int(ts_raw)
    except ValueError:
        raise VerificationError("webhook-timestamp is not Unix seconds") from None
    now = time.time() if now is None else now
    if abs(now - ts) > TOLERANCE_SECONDS:
        raise VerificationError("webhook-timestamp is outside the tolerated window")
    secrets = [secret] if isinstance(secret, str) else list(secret)
    given = sigs.split()
    if not any(hmac.compare_digest(sign(s, msg_id, ts, body).encode(), g.encode()) for s in secrets for g in given):
        raise VerificationError("no signature matches")
    try:
        event = json.loads(body)
    except ValueError:
        raise VerificationError("body is not JSON") from None
    if not isinstance(event, dict) or event.get("id") != msg_id:
        raise VerificationError("body id does not match webhook-id")
    return event


# --- Odoo -> pushd ------------------------------------------------------------


class Response:
    """An answer from pushd: status, headers and the body (parsed when JSON)."""

    def __init__(self, status: int, headers: Mapping[str, str], raw: bytes):
        self.status, self.headers, self.raw = status, headers, raw
        try:
            self.json = json.loads(raw) if raw else None
        except ValueError:
            self.json = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class Client:
    """Calls pushd's API: writes signed with secret, reads with token."""

    def __init__(self, url: str, secret: str | None = None, token: str | None = None, timeout: float = 30):
        self.url, self.secret, self.token, self.timeout = url.rstrip("/"), secret, token, timeout

    def write(self, method: str, path: str, body: bytes, content_type: str = "application/json",
              msg_id: str | None = None) -> Response:
        """A signed write. Retrying with the same msg_id is safe: pushd acts once."""
        if not self.secret:
            raise ValueError("a write needs the webhook secret (--secret or PUSHD_WEBHOOK_SECRET)")
        headers = {"Content-Type": content_type, **signed_headers(self.secret, body, msg_id)}
        return self._do(method, path, body, headers)

    def write_json(self, method: str, path: str, obj, msg_id: str | None = None) -> Response:
        return self.write(method, path, json.dumps(obj).encode(), msg_id=msg_id)

    def get(self, path: str) -> Response:
        if not self.token:
            raise ValueError("a read needs the API token (--token or PUSHD_API_TOKEN)")
        return self._do("GET", path, None, {"Authorization": "Bearer " + self.token})

    def put_cluster(self, cluster_id: str, record: dict, msg_id: str | None = None) -> Response:
        return self.write_json("PUT", f"/api/v1/clusters/{cluster_id}", record, msg_id)

    def put_kubeconfig(self, cluster_id: str, kubeconfig: bytes, msg_id: str | None = None) -> Response:
        return self.write("PUT", f"/api/v1/clusters/{cluster_id}/kubeconfig", kubeconfig, "application/yaml", msg_id)

    def delete_cluster(self, cluster_id: str, msg_id: str | None = None) -> Response:
        return self.write("DELETE", f"/api/v1/clusters/{cluster_id}", b"", msg_id=msg_id)

    def submit_job(self, job: dict, msg_id: str | None = None) -> Response:
        return self.write_json("POST", "/api/v1/jobs", job, msg_id)

    def cancel_job(self, job_id: str, msg_id: str | None = None) -> Response:
        return self.write("POST", f"/api/v1/jobs/{job_id}/cancel", b"", msg_id=msg_id)

    def _do(self, method: str, path: str, body: bytes | None, headers: dict) -> Response:
        req = urllib.request.Request(self.url + path, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return Response(resp.status, resp.headers, resp.read())
        except urllib.error.HTTPError as err:  # a non-2xx answer, not a failure to ask
            return Response(err.code, err.headers, err.read())


# --- pushd -> Odoo ------------------------------------------------------------


class CallbackHandler(http.server.BaseHTTPRequestHandler):
    """Verifies each callback, prints its event as one JSON line, answers 204.

    Bad signatures or timestamps get 401 and are not printed. A webhook-id
    seen before is a retry: answered 204 again, printed once.
    """

    secrets: list = []
    out = sys.stdout
    seen: OrderedDict = OrderedDict()  # recent webhook-ids; a real receiver keeps them in its database
    max_seen = 10000

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            event = verify_callback(self.headers, body, self.secrets)
        except VerificationError as err:
            self._answer(401, {"error": {"code": "bad_signature", "message": str(err)}})
            return
        if event["id"] not in self.seen:
            self.seen[event["id"]] = True
            if len(self.seen) > self.max_seen:
                self.seen.popitem(last=False)
            print(json.dumps(event, sort_keys=True), file=self.out, flush=True)
        self._answer(204, None)

    def _answer(self, status: int, obj):
        raw = json.dumps(obj).encode() if obj is not None else b""
        self.send_response(status)
        if raw:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, format, *args):  # keep stdout for events; requests go to stderr
        sys.stderr.write("callback %s - %s\n" % (self.address_string(), format % args))


def serve_callbacks(port: int, secrets: list, host: str = "127.0.0.1", out=sys.stdout) -> None:
    handler = type("Handler", (CallbackHandler,), {"secrets": secrets, "out": out, "seen": OrderedDict()})
    server = http.server.ThreadingHTTPServer((host, port), handler)
    print(f"serving callbacks on http://{host}:{server.server_address[1]}/", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


# --- CLI ----------------------------------------------------------------------


def _csv(value: str) -> list:
    return [v for v in (s.strip() for s in value.split(",")) if v]


def _operations(value: str) -> list:
    ops = []
    for item in _csv(value):
        engine, sep, typ = item.partition("/")
        if not sep or not engine or not typ:
            raise argparse.ArgumentTypeError(f"operation {item!r}: want engine/type, e.g. manifest/deploy")
        ops.append({"engine": engine, "type": typ})
    return ops


def _labels(values: list) -> dict:
    labels = {}
    for item in values or []:
        key, sep, val = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"--label {item!r}: want key=value")
        labels[key] = val
    return labels


def _cluster_record(args) -> dict:
    """The record from the flags given; what is not given is left out."""
    rec = {"connectivity": args.connectivity}
    if args.display_name is not None:
        rec["display_name"] = args.display_name
    if args.organization is not None:
        rec["organization"] = args.organization
    if args.label:
        rec["labels"] = _labels(args.label)
    if args.namespaces is not None:
        rec["allowed_namespaces"] = args.namespaces
    if args.applications is not None:
        rec["allowed_applications"] = args.applications
    if args.operations is not None:
        rec["allowed_operations"] = args.operations
    drift = {k: v for k, v in (("schedule", args.drift_schedule), ("mode", args.drift_mode)) if v is not None}
    if drift:
        rec["drift"] = drift
    if args.public_key is not None:
        rec["public_key"] = args.public_key
    return rec


def _read(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    with open(path, "rb") as f:
        return f.read()


def _parser() -> argparse.ArgumentParser:
    env = os.environ.get
    p = argparse.ArgumentParser(prog="pushd_client.py", description="Talk to pushd as Odoo does.")
    p.add_argument("--url", default=env("PUSHD_URL", "http://127.0.0.1:8080"), help="pushd's base URL [PUSHD_URL]")
    p.add_argument("--secret", default=env("PUSHD_WEBHOOK_SECRET"), help="whsec_... secret that signs writes [PUSHD_WEBHOOK_SECRET]")
    p.add_argument("--token", default=env("PUSHD_API_TOKEN"), help="bearer token for reads [PUSHD_API_TOKEN]")
    p.add_argument("--message-id", help="webhook-id of a write (the idempotency key); a new one when not given")
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("put-cluster", help="create or update a cluster record")
    c.add_argument("id")
    c.add_argument("--namespaces", type=_csv, help="allowed namespaces, comma-separated")
    c.add_argument("--applications", type=_csv, help="allowed applications, comma-separated")
    c.add_argument("--operations", type=_operations, help="allowed operations as engine/type, comma-separated")
    c.add_argument("--display-name")
    c.add_argument("--organization", help="defaults to the secret's organization")
    c.add_argument("--label", action="append", help="key=value; repeatable")
    c.add_argument("--connectivity", default="push")
    c.add_argument("--drift-schedule", help='cron expression, e.g. "*/10 * * * *"')
    c.add_argument("--drift-mode", choices=["report", "correct"])
    c.add_argument("--public-key")

    k = sub.add_parser("put-kubeconfig", help="store a cluster's kubeconfig (pushd probes it first)")
    k.add_argument("id")
    k.add_argument("file", help="kubeconfig file, - for stdin")

    d = sub.add_parser("delete-cluster", help="forget a cluster and its credential")
    d.add_argument("id")

    j = sub.add_parser("submit-job", help="POST a job (JSON file as in the contract)")
    j.add_argument("file", help="job JSON file, - for stdin")

    x = sub.add_parser("cancel-job", help="cancel a job")
    x.add_argument("id")

    g = sub.add_parser("get", help="GET a path, e.g. /api/v1/clusters")
    g.add_argument("path")

    s = sub.add_parser("serve-callbacks", help="receive, verify and print pushd's callbacks")
    s.add_argument("--port", type=int, default=8069, help="0 picks a free port")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--callback-secret", action="append",
                   help="whsec_... secret callbacks are signed with; repeatable (rotation) [PUSHD_CALLBACK_SECRET]")
    return p


def main(argv: list | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "serve-callbacks":
        secrets = args.callback_secret or os.environ.get("PUSHD_CALLBACK_SECRET", "").split()
        if not secrets:
            print("serve-callbacks needs --callback-secret or PUSHD_CALLBACK_SECRET", file=sys.stderr)
            return 2
        for s in secrets:
            parse_secret(s)  # fail now, not on the first callback
        serve_callbacks(args.port, secrets, args.host)
        return 0

    client = Client(args.url, args.secret, args.token)
    mid = args.message_id
    try:
        if args.command == "put-cluster":
            resp = client.put_cluster(args.id, _cluster_record(args), mid)
        elif args.command == "put-kubeconfig":
            resp = client.put_kubeconfig(args.id, _read(args.file), mid)
        elif args.command == "delete-cluster":
            resp = client.delete_cluster(args.id, mid)
        elif args.command == "submit-job":
            resp = client.submit_job(json.loads(_read(args.file)), mid)
        elif args.command == "cancel-job":
            resp = client.cancel_job(args.id, mid)
        else:
            resp = client.get(args.path)
    except (ValueError, OSError) as err:  # bad secret, unreadable file, pushd unreachable
        print(f"pushd_client: {err}", file=sys.stderr)
        return 2
    print(f"HTTP {resp.status}", file=sys.stderr)
    if resp.json is not None:
        print(json.dumps(resp.json, indent=2, sort_keys=True))
    elif resp.raw:
        sys.stdout.write(resp.raw.decode(errors="replace"))
    return 0 if resp.ok else 1


if __name__ == "__main__":
    sys.exit(main())
