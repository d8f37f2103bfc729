"""A cloud metadata service, as far as spot reclaims go: answers the way AWS's IMDSv2, Google's
metadata server and Azure's Scheduled Events do (paths, required headers, bodies, status codes
from each vendor's documentation). Standalone (stdlib only): the LXD tests run it inside the
container, on its own loopback, where the watcher asks it.

    python3 metadata_server.py PORT {aws|gcp|azure|rebalance} [--notice]

Without ``--notice`` it answers "nothing announced" until ``POST /notice`` arrives (or the
file ``/tmp/cmlinfra-notice`` exists; ``POST /quiet`` takes it back); then it announces the
reclaim. It prints ``ready`` once it
listens, so a caller can wait on that line instead of guessing.
"""

from __future__ import annotations

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOKEN = "AQAEAFakeImdsV2SessionToken=="  # IMDSv2 tokens are opaque strings
ARM_FILE = "/tmp/cmlinfra-notice"


class Handler(BaseHTTPRequestHandler):
    shape = "aws"
    notice = False

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def _send(self, code: int, body: str, kind: str = "text/plain") -> None:
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _announced(self) -> bool:
        return type(self).notice or os.path.exists(ARM_FILE)

    def do_POST(self) -> None:
        if self.path == "/notice":
            type(self).notice = True
            return self._send(200, "armed")
        if self.path == "/quiet":
            type(self).notice = False
            return self._send(200, "quiet")
        self._send(404, "Not Found")

    def do_PUT(self) -> None:
        if self.shape in {"aws", "rebalance"} and self.path == "/latest/api/token":
            ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds", "")
            if not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
                return self._send(400, "Bad Request")
            return self._send(200, TOKEN)
        self._send(404, "Not Found")

    def do_GET(self) -> None:
        getattr(self, f"_{self.shape}", self._aws)()

    def _aws(self) -> None:
        if not self.path.startswith("/latest/meta-data/"):
            return self._send(404, "Not Found")
        if self.headers.get("X-aws-ec2-metadata-token") != TOKEN:
            return self._send(401, "Unauthorized")  # IMDSv2 required: no token, no answer
        armed = self._announced()
        spot = self.path == "/latest/meta-data/spot/instance-action"
        if spot and armed and self.shape == "aws":
            body = {"action": "terminate", "time": "2026-12-04T20:12:00Z"}
            return self._send(200, json.dumps(body), "application/json")
        rebalance = self.path == "/latest/meta-data/events/recommendations/rebalance"
        if rebalance and armed and self.shape == "rebalance":
            body = {"noticeTime": "2026-12-04T20:10:00Z"}
            return self._send(200, json.dumps(body), "application/json")
        self._send(404, "Not Found")  # what IMDS answers while nothing is announced

    def _gcp(self) -> None:
        if self.headers.get("Metadata-Flavor") != "Google":
            return self._send(403, "Missing Metadata-Flavor:Google header.")
        if self.path.split("?")[0] != "/computeMetadata/v1/instance/preempted":
            return self._send(404, "Not Found")
        self._send(200, "TRUE" if self._announced() else "FALSE", "application/text")

    def _azure(self) -> None:
        if self.headers.get("Metadata") != "true":
            refusal = {"error": "Bad request. Required metadata header not specified"}
            return self._send(400, json.dumps(refusal))
        if self.path != "/metadata/scheduledevents?api-version=2020-07-01":
            return self._send(404, "Not Found")
        events = []
        if self._announced():
            events.append({
                "EventId": "A123BC45-1234-5678-AB90-ABCDEF123456",
                "EventStatus": "Scheduled",
                "EventType": "Preempt",
                "ResourceType": "VirtualMachine",
                "Resources": ["cmlinfra-vm"],
                "NotBefore": "Fri, 04 Dec 2026 20:12:00 GMT",
                "Description": "",
                "EventSource": "Platform",
                "DurationInSeconds": -1,
            })  # fmt: skip
        body = {"DocumentIncarnation": len(events), "Events": events}
        self._send(200, json.dumps(body), "application/json")


def serve(port: int, shape: str, notice: bool = False) -> ThreadingHTTPServer:
    handler = type("Metadata", (Handler,), {"shape": shape, "notice": notice})
    return ThreadingHTTPServer(("127.0.0.1", port), handler)


if __name__ == "__main__":
    server = serve(int(sys.argv[1]), sys.argv[2], "--notice" in sys.argv[3:])
    print("ready", flush=True)
    server.serve_forever()
