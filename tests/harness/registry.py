#!/usr/bin/env python3
"""A small Confluent-compatible Schema Registry for the tests.

Neither Confluent's Schema Registry (not on Maven Central) nor Karapace (not
on PyPI) can be installed here, so this implements the part of the REST API
that clients use, with Confluent's shapes, content type and error codes:

    POST   /subjects/{subject}/versions           register -> {"id": n}
    POST   /subjects/{subject}                    look up  -> {"subject","id","version","schema"}
    GET    /subjects                              ["a-value", ...]
    GET    /subjects/{subject}/versions           [1, 2, ...]
    GET    /subjects/{subject}/versions/{v|latest}         {"subject","id","version","schema"}
    GET    /subjects/{subject}/versions/{v|latest}/schema  the schema itself
    DELETE /subjects/{subject}[/versions/{v}]     soft delete (?permanent=true: hard)
    GET    /schemas/ids/{id}                      {"schema": "..."}
    GET    /schemas/ids/{id}/schema | /subjects | /versions
    GET    /schemas/types                         ["AVRO", "JSON", "PROTOBUF"]
    GET    /config[/{subject}]  PUT /config[/{subject}]   compatibility level (stored, not enforced)
    GET    /mode                                  {"mode": "READWRITE"}
    GET    /                                      {}

Semantics kept from Confluent: ids are global and stable, the same schema
(after JSON normalisation) gets the same id under every subject, registering
a schema a subject already has returns its id without a new version, and
errors are {"error_code": 40401|40402|40403|42201|42202|..., "message": ...}.
Avro schemas are validated with fastavro (422/42201 when invalid); JSON and
PROTOBUF schemas are stored as given.  Compatibility is NOT checked.

Optional HTTP basic auth (--basic-auth user:pass) answers 401 without it.

In-process:   with Registry() as r: ... r.url ...
Command line: python3 tests/harness/registry.py --port 0 --print-port
              (prints the port on the first stdout line once listening, then
              serves until SIGTERM/SIGINT)
"""

from __future__ import annotations

import argparse
import base64
import hmac
import json
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
ACCEPTED_BODY_TYPES = ("application/vnd.schemaregistry.v1+json",
                       "application/vnd.schemaregistry+json", "application/json",
                       "application/octet-stream", "text/plain")


class ApiError(Exception):
    def __init__(self, status: int, code: int, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _normalise(schema_type: str, text: str) -> str:
    """The identity of a schema: for Avro and JSON the parsed document with
    sorted keys and no whitespace (so formatting never makes a new id)."""
    if schema_type in ("AVRO", "JSON"):
        return json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))
    return text


def _check_avro_shape(node, path: str = "$") -> None:
    """What fastavro lets through but the Avro specification requires."""
    if isinstance(node, list):
        for i, branch in enumerate(node):
            _check_avro_shape(branch, f"{path}[{i}]")
    elif isinstance(node, dict):
        t = node.get("type")
        required = {"record": ("name", "fields"), "error": ("name", "fields"),
                    "enum": ("name", "symbols"), "fixed": ("name", "size"),
                    "array": ("items",), "map": ("values",)}.get(t, ())
        for key in required:
            if key not in node:
                raise ApiError(422, 42201, f"Invalid schema: {path}: {t} without \"{key}\"")
        if t in ("record", "error"):
            if not isinstance(node["fields"], list):
                raise ApiError(422, 42201, f"Invalid schema: {path}.fields is not an array")
            for i, f in enumerate(node["fields"]):
                if not isinstance(f, dict) or "name" not in f or "type" not in f:
                    raise ApiError(422, 42201, f"Invalid schema: {path}.fields[{i}] needs "
                                   "\"name\" and \"type\"")
                _check_avro_shape(f["type"], f"{path}.fields[{i}]")
        elif t == "array":
            _check_avro_shape(node["items"], f"{path}.items")
        elif t == "map":
            _check_avro_shape(node["values"], f"{path}.values")
        elif isinstance(t, (dict, list)):
            _check_avro_shape(t, f"{path}.type")


def _validate_avro(text: str) -> None:
    try:
        doc = json.loads(text)
    except ValueError as e:
        raise ApiError(422, 42201, f"Invalid schema: {e}") from None
    _check_avro_shape(doc)
    try:
        import fastavro
        fastavro.parse_schema(doc, _write_hint=False)
    except ImportError:  # validation is a nicety; JSON parse already done
        pass
    except Exception as e:  # fastavro raises several types
        raise ApiError(422, 42201, f"Invalid schema: {e}") from None


class Store:
    """The registry's state; every method takes the one lock (the server is
    threaded and the tests are small)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.schemas: list[dict] = []        # id-1 -> {"schema", "schemaType", "references", "norm"}
        self.by_norm: dict[tuple, int] = {}  # (type, norm, refs) -> id
        self.subjects: dict[str, list[dict]] = {}  # subject -> [{"version","id","deleted"}]
        self.config: dict[str, str] = {}     # "" = global
        self.requests = 0

    # -- helpers (lock held)
    def _versions(self, subject: str, include_deleted: bool = False) -> list[dict]:
        vs = [v for v in self.subjects.get(subject, []) if include_deleted or not v["deleted"]]
        if not vs:
            raise ApiError(404, 40401, f"Subject '{subject}' not found.")
        return vs

    def _version(self, subject: str, version: str, include_deleted: bool = False) -> dict:
        vs = self._versions(subject, include_deleted)
        if version in ("latest", "-1"):
            return vs[-1]
        try:
            n = int(version)
        except ValueError:
            n = 0
        if n <= 0:
            raise ApiError(422, 42202, "The specified version '%s' is not a valid version id. "
                           "Allowed values are between [1, 2^31-1] and the string \"latest\""
                           % version)
        for v in vs:
            if v["version"] == n:
                return v
        raise ApiError(404, 40402, f"Version {n} not found.")

    def _schema(self, sid: int) -> dict:
        if 1 <= sid <= len(self.schemas):
            return self.schemas[sid - 1]
        raise ApiError(404, 40403, f"Schema {sid} not found")

    def _subject_version_body(self, subject: str, v: dict) -> dict:
        s = self.schemas[v["id"] - 1]
        out = {"subject": subject, "version": v["version"], "id": v["id"], "schema": s["schema"]}
        if s["schemaType"] != "AVRO":
            out["schemaType"] = s["schemaType"]
        if s["references"]:
            out["references"] = s["references"]
        return out

    @staticmethod
    def _parse_request(body: dict) -> tuple[str, str, list, tuple]:
        if not isinstance(body, dict) or not isinstance(body.get("schema"), str):
            raise ApiError(422, 42201, "Invalid schema: the request needs a \"schema\" string")
        st = body.get("schemaType") or "AVRO"
        if st not in ("AVRO", "JSON", "PROTOBUF"):
            raise ApiError(422, 42201, f"Invalid schema: unknown schemaType {st}")
        refs = body.get("references") or []
        if st == "AVRO" and not refs:
            _validate_avro(body["schema"])
        try:
            norm = _normalise(st, body["schema"])
        except ValueError as e:
            raise ApiError(422, 42201, f"Invalid schema: {e}") from None
        key = (st, norm, json.dumps(refs, sort_keys=True))
        return body["schema"], st, refs, key

    # -- operations
    def register(self, subject: str, body: dict) -> dict:
        text, st, refs, key = self._parse_request(body)
        with self.lock:
            sid = self.by_norm.get(key)
            if sid is None:
                self.schemas.append({"schema": text, "schemaType": st, "references": refs})
                sid = len(self.schemas)
                self.by_norm[key] = sid
            versions = self.subjects.setdefault(subject, [])
            for v in versions:
                if v["id"] == sid and not v["deleted"]:
                    return {"id": sid}
            n = max((v["version"] for v in versions), default=0) + 1
            versions.append({"version": n, "id": sid, "deleted": False})
            return {"id": sid}

    def lookup(self, subject: str, body: dict, deleted: bool) -> dict:
        _, _, _, key = self._parse_request(body)
        with self.lock:
            vs = self._versions(subject, include_deleted=deleted)
            sid = self.by_norm.get(key)
            for v in vs:
                if v["id"] == sid:
                    return self._subject_version_body(subject, v)
            raise ApiError(404, 40403, "Schema not found")

    def get_subjects(self, deleted: bool) -> list:
        with self.lock:
            return sorted(s for s, vs in self.subjects.items()
                          if any(deleted or not v["deleted"] for v in vs))

    def get_versions(self, subject: str, deleted: bool) -> list:
        with self.lock:
            return [v["version"] for v in self._versions(subject, deleted)]

    def get_version(self, subject: str, version: str, deleted: bool) -> dict:
        with self.lock:
            return self._subject_version_body(subject,
                                              self._version(subject, version, deleted))

    def delete_subject(self, subject: str, permanent: bool) -> list:
        with self.lock:
            vs = self._versions(subject, include_deleted=permanent)
            if permanent:
                if any(not v["deleted"] for v in vs):
                    raise ApiError(404, 40405, f"Subject '{subject}' was not deleted first "
                                   "before being permanently deleted")
                del self.subjects[subject]
            else:
                for v in vs:
                    v["deleted"] = True
            return [v["version"] for v in vs]

    def delete_version(self, subject: str, version: str, permanent: bool) -> int:
        with self.lock:
            v = self._version(subject, version, include_deleted=permanent)
            if permanent:
                if not v["deleted"]:
                    raise ApiError(404, 40407, f"Subject '{subject}' Version {v['version']} "
                                   "was not deleted first before being permanently deleted")
                self.subjects[subject].remove(v)
                if not self.subjects[subject]:
                    del self.subjects[subject]
            else:
                v["deleted"] = True
            return v["version"]

    def get_schema(self, sid: int) -> dict:
        with self.lock:
            s = self._schema(sid)
            out = {"schema": s["schema"]}
            if s["schemaType"] != "AVRO":
                out["schemaType"] = s["schemaType"]
            if s["references"]:
                out["references"] = s["references"]
            return out

    def schema_subject_versions(self, sid: int) -> list:
        with self.lock:
            self._schema(sid)
            return [{"subject": s, "version": v["version"]}
                    for s, vs in sorted(self.subjects.items()) for v in vs
                    if v["id"] == sid and not v["deleted"]]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"     # keep-alive, as real clients expect
    server_version = "weir-test-schema-registry/1"
    store: Store
    auth: str | None
    quiet: bool

    def log_message(self, fmt, *args):  # noqa: D401 - BaseHTTPRequestHandler API
        if not self.quiet:
            sys.stderr.write("registry: %s - %s\n" % (self.address_string(), fmt % args))

    def _send(self, status: int, payload) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _read_raw(self) -> bytes:
        # Always drain the body, even for a request about to be refused, so
        # the next request on this keep-alive connection starts clean.
        try:
            n = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            n = 0
        if n > 16 << 20:
            self.close_connection = True
            raise ApiError(413, 413, "HTTP 413 Request Entity Too Large")
        return self.rfile.read(n) if n > 0 else b""

    def _body(self, raw: bytes):
        ctype = (self.headers.get("Content-Type") or CONTENT_TYPE).split(";")[0].strip().lower()
        if ctype not in ACCEPTED_BODY_TYPES:
            raise ApiError(415, 415, f"HTTP 415 Unsupported Media Type: {ctype}")
        try:
            return json.loads(raw.decode() or "null")
        except ValueError as e:
            raise ApiError(400, 400, f"Unexpected character: {e}") from None

    def _authorised(self) -> bool:
        if not self.auth:
            return True
        h = self.headers.get("Authorization") or ""
        if not h.startswith("Basic "):
            return False
        try:
            given = base64.b64decode(h[6:].strip(), validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            return False
        return hmac.compare_digest(given.encode(), self.auth.encode())

    def _route(self, method: str) -> None:
        with self.store.lock:
            self.store.requests += 1
        url = urlsplit(self.path)
        q = {k: v[-1] for k, v in parse_qs(url.query).items()}
        deleted = q.get("deleted", "false").lower() == "true"
        permanent = q.get("permanent", "false").lower() == "true"
        parts = [unquote(p) for p in url.path.strip("/").split("/")] if url.path.strip("/") else []
        st = self.store
        try:
            raw = self._read_raw()
            if not self._authorised():
                # Confluent answers 401 with this body when credentials are wrong.
                self.send_response(401)
                data = json.dumps({"error_code": 401, "message": "Unauthorized"}).encode()
                self.send_header("WWW-Authenticate", 'Basic realm="SchemaRegistry"')
                self.send_header("Content-Type", CONTENT_TYPE)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            body = self._body(raw) if method in ("POST", "PUT") else None
            n = len(parts)
            if n == 0 and method == "GET":
                return self._send(200, {})
            if parts[0] == "subjects":
                if n == 1 and method == "GET":
                    return self._send(200, st.get_subjects(deleted))
                subject = parts[1] if n >= 2 else ""
                if n == 2 and method == "POST":
                    return self._send(200, st.lookup(subject, body, deleted))
                if n == 2 and method == "DELETE":
                    return self._send(200, st.delete_subject(subject, permanent))
                if n == 3 and parts[2] == "versions":
                    if method == "POST":
                        return self._send(200, st.register(subject, body))
                    if method == "GET":
                        return self._send(200, st.get_versions(subject, deleted))
                if n == 4 and parts[2] == "versions":
                    if method == "GET":
                        return self._send(200, st.get_version(subject, parts[3], deleted))
                    if method == "DELETE":
                        return self._send(200, st.delete_version(subject, parts[3], permanent))
                if n == 5 and parts[2] == "versions" and parts[4] == "schema" and method == "GET":
                    return self._send(200, json.loads(
                        st.get_version(subject, parts[3], deleted)["schema"]))
            if parts[0] == "schemas":
                if n == 2 and parts[1] == "types" and method == "GET":
                    return self._send(200, ["AVRO", "JSON", "PROTOBUF"])
                if n >= 3 and parts[1] == "ids" and method == "GET":
                    try:
                        sid = int(parts[2])
                    except ValueError:
                        raise ApiError(404, 40403, f"Schema {parts[2]} not found") from None
                    if n == 3:
                        return self._send(200, st.get_schema(sid))
                    if n == 4 and parts[3] == "schema":
                        return self._send(200, json.loads(st.get_schema(sid)["schema"]))
                    if n == 4 and parts[3] == "subjects":
                        return self._send(200, sorted({x["subject"] for x in
                                                       st.schema_subject_versions(sid)}))
                    if n == 4 and parts[3] == "versions":
                        return self._send(200, st.schema_subject_versions(sid))
            if parts[0] == "config" and n <= 2:
                key = parts[1] if n == 2 else ""
                if method == "GET":
                    with st.lock:
                        level = st.config.get(key) or (None if key else "BACKWARD")
                    if level is None:
                        raise ApiError(404, 40408, f"Subject '{key}' does not have "
                                       "subject-level compatibility configured")
                    return self._send(200, {"compatibilityLevel": level})
                if method == "PUT":
                    level = (body or {}).get("compatibility") if isinstance(body, dict) else None
                    if not isinstance(level, str):
                        raise ApiError(422, 42203, "Invalid compatibility level")
                    with st.lock:
                        st.config[key] = level.upper()
                    return self._send(200, {"compatibility": level.upper()})
            if parts[0] == "mode" and method == "GET" and n <= 2:
                return self._send(200, {"mode": "READWRITE"})
            raise ApiError(404, 404, "HTTP 404 Not Found")
        except ApiError as e:
            self._send(e.status, {"error_code": e.code, "message": e.message})
        except Exception as e:  # a bug here must still answer like a registry
            self._send(500, {"error_code": 50001, "message": f"Error in the backend data store: {e}"})

    def do_GET(self):
        self._route("GET")

    def do_POST(self):
        self._route("POST")

    def do_PUT(self):
        self._route("PUT")

    def do_DELETE(self):
        self._route("DELETE")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class Registry:
    """The registry on a loopback port, served by a background thread."""

    def __init__(self, port: int = 0, host: str = "127.0.0.1", basic_auth: str | None = None,
                 quiet: bool = True):
        self.store = Store()
        handler = type("BoundHandler", (Handler,),
                       {"store": self.store, "auth": basic_auth, "quiet": quiet})
        self.server = _Server((host, port), handler)
        self.host, self.port = self.server.server_address[:2]
        self.basic_auth = basic_auth
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def requests(self) -> int:
        """How many HTTP requests it has answered (tests assert cache hits)."""
        with self.store.lock:
            return self.store.requests

    def start(self) -> "Registry":
        if self._thread is None:
            self._thread = threading.Thread(target=self.server.serve_forever,
                                            kwargs={"poll_interval": 0.1},
                                            name="schema-registry", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self.server.shutdown()
            self._thread.join()
            self._thread = None
        self.server.server_close()

    def __enter__(self) -> "Registry":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Confluent-compatible Schema Registry for tests.")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0 picks a free port")
    ap.add_argument("--print-port", action="store_true",
                    help="print the port on stdout once listening")
    ap.add_argument("--basic-auth", metavar="USER:PASS", help="require HTTP basic auth")
    ap.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = ap.parse_args(argv)
    reg = Registry(args.port, args.host, args.basic_auth, quiet=not args.verbose)
    if args.print_port:
        print(reg.port, flush=True)
    else:
        print(f"schema registry at {reg.url}", file=sys.stderr, flush=True)

    def _term(*_):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, _term)
    try:
        reg.server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        reg.server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
