"""A fake GitHub Gist API on 127.0.0.1, for the cloud sync tests.

It speaks the part of the REST API that `/cloudsave` uses, with GitHub's JSON shapes:
GET /user (with the X-OAuth-Scopes header a classic token gets), POST /gists,
PATCH /gists/{id} (content, rename, delete), GET /gists/{id} (content cut at
`truncate_at` with a `raw_url` for the rest, as GitHub does past 1 MB), and
GET /gists?per_page=&page= (the token owner's gists, at most `page_limit` a page,
with a Link header). A token it does not know gets 401, a gist that is missing, or
someone else's on PATCH, gets 404, and `fail_next()` makes the next API request get
any answer (a 403 rate limit with its reset time, a 500).

Strict like the model server: every request is recorded, and one without the
headers GitHub expects (Bearer token, Accept, X-GitHub-Api-Version, User-Agent) or
with a body GitHub would refuse is a failure that `verify()` raises.
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from tests.fakes.loopback import Loopback, read_body

API_VERSION = "2022-11-28"
ACCEPT = "application/vnd.github+json"
DOCS = "https://docs.github.com/rest"
START = datetime(2026, 4, 1, 9, 0, tzinfo=timezone.utc)


@dataclass
class Recorded:
    method: str
    path: str  # without the query
    query: dict[str, str]
    headers: dict[str, str]  # names lower-cased
    body: Any


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class FakeGistServer(Loopback):
    methods = ("GET", "POST", "PATCH")
    tokens: dict[str, str] = field(default_factory=dict)  # token -> login
    scopes: str | None = "gist"  # X-OAuth-Scopes of every token; None: not sent (fine-grained tokens)
    page_limit: int = 100  # GitHub's largest per_page
    truncate_at: int = 1_000_000  # file content longer than this comes cut, with truncated: true
    gists: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> stored gist (with contents)
    requests: list[Recorded] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._answers: list[Answer] = []
        self._ticks = 0

    # --- scripting -------------------------------------------------------------------

    def fail_next(self, status: int, message: str = "", headers: dict[str, str] | None = None) -> None:
        """The next API request gets this answer instead of its own."""
        with self._lock:
            self._answers.append(Answer(status, {"message": message, "documentation_url": DOCS},
                                        dict(headers or {})))

    def rate_limited(self, reset: int) -> None:
        """The next API request finds the hourly rate limit used up until `reset` (epoch seconds)."""
        self.fail_next(403, "API rate limit exceeded for user ID 1.",
                       {"x-ratelimit-limit": "5000", "x-ratelimit-remaining": "0",
                        "x-ratelimit-used": "5000", "x-ratelimit-reset": str(reset)})

    def add_gist(self, owner: str, files: dict[str, str], description: str = "",
                 updated_at: str | None = None) -> str:
        """A gist made elsewhere (on the web, by another user)."""
        with self._lock:
            gist = self._new(owner, description, files)
            if updated_at:
                gist["updated_at"] = updated_at
        return gist["id"]

    def api_requests(self, method: str | None = None) -> list[Recorded]:
        return [r for r in self.requests if not r.path.startswith("/raw/")
                and (method is None or r.method == method)]

    # --- lifecycle -------------------------------------------------------------------

    def verify(self) -> None:
        if self.failures:
            raise AssertionError("fake gist server: " + "; ".join(self.failures))

    # --- serving ---------------------------------------------------------------------

    def _handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        body = read_body(h, invalid=lambda raw: raw.decode(errors="replace"))  # the shape checks report it
        parts = urlsplit(h.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        headers = {k.lower(): v for k, v in h.headers.items()}
        record = Recorded(method, parts.path, query, headers, body)
        with self._lock:
            self.requests.append(record)
            if parts.path.startswith("/raw/"):
                status, payload, extra = self._raw(parts.path)
            else:
                status, payload, extra = self._api(record)
        self._send(h, status, payload, extra)

    def _api(self, r: Recorded) -> tuple[int, Any, dict[str, str]]:
        self._check_headers(r)
        if self._answers:
            answer = self._answers.pop(0)
            return answer.status, answer.body, answer.headers
        login = self._login(r.headers.get("authorization", ""))
        if login is None:
            message = "Bad credentials" if r.headers.get("authorization") else "Requires authentication"
            return 401, {"message": message, "documentation_url": DOCS, "status": "401"}, {}
        segments = [s for s in r.path.split("/") if s]
        if (r.method, segments) == ("GET", ["user"]):
            scopes = {} if self.scopes is None else {"x-oauth-scopes": self.scopes}
            return 200, {"login": login, "id": 1000 + len(login), "type": "User"}, scopes
        if segments == ["gists"] and r.method == "POST":
            return self._create(login, r.body)
        if segments == ["gists"] and r.method == "GET":
            return self._list(login, r.query)
        if len(segments) == 2 and segments[0] == "gists":
            gist = self.gists.get(segments[1])
            if r.method == "GET" and gist is not None:
                return 200, self._shown(gist, contents=True), {}
            if r.method == "PATCH" and gist is not None and gist["owner"]["login"] == login:
                return self._update(gist, r.body)
            return 404, {"message": "Not Found", "documentation_url": DOCS, "status": "404"}, {}
        self.failures.append(f"unexpected request {r.method} {r.path}")
        return 404, {"message": "Not Found", "documentation_url": DOCS}, {}

    def _check_headers(self, r: Recorded) -> None:
        expected = {"accept": ACCEPT, "x-github-api-version": API_VERSION}
        for name, value in expected.items():
            if r.headers.get(name) != value:
                self.failures.append(f"{r.method} {r.path}: header {name} is {r.headers.get(name)!r}, "
                                     f"expected {value!r}")
        if not r.headers.get("user-agent"):
            self.failures.append(f"{r.method} {r.path}: no User-Agent (GitHub refuses such requests)")

    def _login(self, authorization: str) -> str | None:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() not in ("bearer", "token"):
            return None
        return self.tokens.get(token.strip())

    def _create(self, login: str, body: Any) -> tuple[int, Any, dict[str, str]]:
        problem = _bad_files(body, creating=True)
        if problem:
            return 422, {"message": "Validation Failed", "errors": [problem], "documentation_url": DOCS}, {}
        files = {name: spec["content"] for name, spec in body["files"].items()}
        gist = self._new(login, body.get("description") or "", files, public=bool(body.get("public")))
        return 201, self._shown(gist, contents=True), {"location": gist["url"]}

    def _update(self, gist: dict[str, Any], body: Any) -> tuple[int, Any, dict[str, str]]:
        problem = _bad_files(body, creating=False)
        if problem:
            return 422, {"message": "Validation Failed", "errors": [problem], "documentation_url": DOCS}, {}
        if "description" in body:
            gist["description"] = body["description"]
        for name, spec in (body.get("files") or {}).items():
            old = gist["files"].pop(name, None)
            if spec is None:
                continue
            new_name = spec.get("filename") or name
            content = spec.get("content", old if old is not None else "")
            gist["files"][new_name] = content
        gist["updated_at"] = self._tick()
        return 200, self._shown(gist, contents=True), {}

    def _list(self, login: str, query: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        mine = sorted((g for g in self.gists.values() if g["owner"]["login"] == login),
                      key=lambda g: g["created_at"], reverse=True)
        size = max(1, min(int(query.get("per_page") or 30), self.page_limit, 100))
        page = max(1, int(query.get("page") or 1))
        shown = [self._shown(g, contents=False) for g in mine[(page - 1) * size:page * size]]
        last = max(1, -(-len(mine) // size))
        links = []
        if page < last:
            links.append(f'<{self.url}/gists?per_page={size}&page={page + 1}>; rel="next"')
            links.append(f'<{self.url}/gists?per_page={size}&page={last}>; rel="last"')
        if page > 1:
            links.append(f'<{self.url}/gists?per_page={size}&page=1>; rel="first"')
            links.append(f'<{self.url}/gists?per_page={size}&page={page - 1}>; rel="prev"')
        return 200, shown, {"link": ", ".join(links)} if links else {}

    def _raw(self, path: str) -> tuple[int, Any, dict[str, str]]:
        _, _, gist_id, quoted = path.split("/", 3)
        name = unquote(quoted)
        gist = self.gists.get(gist_id)
        if gist is None or name not in gist["files"]:
            return 404, "404: Not Found", {}
        return 200, gist["files"][name], {}

    # --- gists -----------------------------------------------------------------------

    def _tick(self) -> str:
        self._ticks += 1
        return (START + timedelta(minutes=self._ticks)).strftime("%Y-%m-%dT%H:%M:%SZ")

    def _new(self, owner: str, description: str, files: dict[str, str],
             public: bool = False) -> dict[str, Any]:
        gist_id = uuid.uuid4().hex
        now = self._tick()
        gist = {"id": gist_id, "url": f"{self.url}/gists/{gist_id}",
                "html_url": f"{self.url}/{owner}/{gist_id}",
                "description": description, "public": public, "created_at": now, "updated_at": now,
                "owner": {"login": owner, "id": 1000 + len(owner)}, "files": dict(files), "comments": 0}
        self.gists[gist_id] = gist
        return gist

    def _shown(self, gist: dict[str, Any], *, contents: bool) -> dict[str, Any]:
        """A gist as the API shows it: listings carry no file contents."""
        files = {}
        for name, content in gist["files"].items():
            file = {"filename": name, "type": "application/json", "language": "JSON",
                    "raw_url": f"{self.url}/raw/{gist['id']}/{quote(name)}", "size": len(content.encode())}
            if contents:
                file["truncated"] = len(content) > self.truncate_at
                file["content"] = content[:self.truncate_at]
            files[name] = file
        return {**{k: v for k, v in gist.items() if k != "files"}, "files": files, "truncated": False}

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, payload: Any, headers: dict[str, str]) -> None:
        is_text = isinstance(payload, str)
        data = payload.encode() if is_text else json.dumps(payload).encode()
        h.send_response(status)
        h.send_header("content-type", "text/plain; charset=utf-8" if is_text
                      else "application/json; charset=utf-8")
        h.send_header("content-length", str(len(data)))
        h.send_header("connection", "close")
        for name, value in headers.items():
            h.send_header(name, value)
        h.end_headers()
        h.wfile.write(data)
        h.close_connection = True


def _bad_files(body: Any, *, creating: bool) -> dict[str, str] | None:
    """What GitHub's validation would refuse in a create or update body, if anything."""
    if not isinstance(body, dict):
        return {"resource": "Gist", "code": "invalid", "field": "body"}
    files = body.get("files")
    if "description" in body and not isinstance(body["description"], str):
        return {"resource": "Gist", "code": "invalid", "field": "description"}
    if creating and (not isinstance(files, dict) or not files):
        return {"resource": "Gist", "code": "missing_field", "field": "files"}
    for spec in (files or {}).values():
        if spec is None and not creating:
            continue
        if not isinstance(spec, dict):
            return {"resource": "Gist", "code": "invalid", "field": "files"}
        content = spec.get("content")
        if (creating or "content" in spec) and (not isinstance(content, str) or not content):
            return {"resource": "Gist", "code": "missing_field", "field": "files"}
    return None
