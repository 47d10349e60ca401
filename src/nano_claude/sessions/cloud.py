"""Cloud sync: sessions kept in secret GitHub Gists, to carry one to another machine.

A session's gist holds one file, `nano_claude_session_<id>.json`, in the snapshot shape
store.py writes (so a downloaded one loads like a /save file), and the description
"nano-claude session: <title>". `~/.nano_claude/cloud.json` (mode 0600, written
atomically) keeps the token, the account and API it was checked against, and the gist
each session went to, so that its next upload updates that gist instead of adding one.
The token is never shown, and is sent only to the API it was checked against: a
changed `github_base_url` needs a new /cloudsave setup.

GitHub is spoken to with httpx's sync client (commands run it in a thread, the REPL's
way out runs it as it is); every failure becomes a CloudError of one line that says
what happened and what to do.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from nano_claude import __version__
from nano_claude.config import atomic_write, read_json
from nano_claude.core.errors import UsageError
from nano_claude.core.messages import Message, message_to_dict
from nano_claude.sessions.session import RecordedSession
from nano_claude.sessions.transcript import stamp, title, turn_count

if TYPE_CHECKING:
    from nano_claude.config import Settings
    from nano_claude.ui.state import ReplState

API_VERSION = "2022-11-28"
SCOPE = "gist"
TOKEN_PAGE = "https://github.com/settings/tokens"
FILE_PREFIX = "nano_claude_session_"
DESCRIPTION_PREFIX = "nano-claude session: "
COPY_PREFIX = "cloud_"  # a downloaded gist is kept as sessions/cloud_<gist id>.json
PER_PAGE = 100  # GitHub's largest page
MAX_PAGES = 30  # a listing reads at most the 3,000 newest gists
TIMEOUT = httpx.Timeout(30.0, connect=10.0)
USER_AGENT = f"nano-claude/{__version__}"  # GitHub refuses requests without one
NEEDS = f'a token with the "{SCOPE}" scope (make one at {TOKEN_PAGE})'


class CloudError(UsageError):
    """Cloud sync failed; the message says why and what to do, never the token."""


class TokenRefused(CloudError):
    """401: GitHub does not accept the token."""


class GistMissing(CloudError):
    """404: no such gist, or (for a change) not the token owner's."""


# --- cloud.json ------------------------------------------------------------------------


@dataclass
class Upload:
    """Where one session went."""

    gist: str
    file: str
    digest: str = ""  # of the messages uploaded last: an unchanged session is not sent again
    note: str = ""  # the description given to `/cloudsave push`, kept for later uploads


@dataclass
class Account:
    token: str = ""
    login: str = ""
    api_url: str = ""
    uploads: dict[str, Upload] = field(default_factory=dict)  # session id -> its gist

    @classmethod
    def read(cls, home: Path) -> Account:
        path = account_path(home)
        data = read_json(path)  # a broken file is reported with its line, never overwritten
        try:
            uploads = {str(k): Upload(**v) for k, v in dict(data.pop("uploads", {})).items()}
            account = cls(**data, uploads=uploads)
            if not all(isinstance(v, str) for v in (account.token, account.login, account.api_url)):
                raise TypeError("token, login and api_url must be strings")
            return account
        except (TypeError, ValueError) as exc:
            raise CloudError(f"{path} is not a cloud sync file ({exc}); fix or delete it "
                             "(nothing was changed)") from exc

    def write(self, home: Path) -> None:
        path = account_path(home)
        try:
            atomic_write(path, json.dumps(asdict(self), indent=2) + "\n", mode=0o600)
        except OSError as exc:
            raise CloudError(f"cannot write {path}: {exc.strerror or exc}") from exc

    def token_for(self, api_url: str) -> str:
        if not self.token:
            raise CloudError(f"No GitHub token yet: run /cloudsave setup TOKEN with {NEEDS}")
        if self.api_url != api_url:
            raise CloudError(f"The GitHub token was set up for {self.api_url}, not {api_url} (the "
                             "github_base_url setting): run /cloudsave setup TOKEN for this one")
        return self.token


def api_of(settings: Settings) -> str:
    """The API base URL from the settings (GitHub Enterprise: https://HOST/api/v3)."""
    return settings.github_base_url.rstrip("/")


def account_path(home: Path) -> Path:
    """`Paths.home / cloud.json`: apart from config.json, so /config never shows the token."""
    return home / "cloud.json"


# --- the API ---------------------------------------------------------------------------


class GistApi:
    """GitHub's gist endpoints, with each failure turned into a CloudError."""

    def __init__(self, api_url: str, token: str, timeout: httpx.Timeout = TIMEOUT) -> None:
        self.api_url = api_url
        self._client = httpx.Client(base_url=api_url, timeout=timeout, headers={
            "Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": API_VERSION, "User-Agent": USER_AGENT})

    def __enter__(self) -> GistApi:
        return self

    def __exit__(self, *_: object) -> None:
        self._client.close()

    def user(self) -> tuple[str, str | None]:
        """The token's login, and its scopes (None for tokens that do not say: fine-grained)."""
        response = self._call("GET", "/user")
        return str(_object(response).get("login") or "?"), response.headers.get("x-oauth-scopes")

    def create(self, description: str, files: dict[str, Any]) -> dict[str, Any]:
        body = {"description": description, "public": False, "files": files}
        return _gist(self._call("POST", "/gists", json=body))

    def update(self, gist_id: str, description: str, files: dict[str, Any]) -> dict[str, Any]:
        body = {"description": description, "files": files}
        return _gist(self._call("PATCH", f"/gists/{gist_id}", json=body,
                                missing=f"Gist {gist_id} is gone from your account"))

    def get(self, gist_id: str) -> dict[str, Any]:
        return _gist(self._call("GET", f"/gists/{gist_id}", missing=f"No gist {gist_id}, or not one you "
                                "can read: /cloudsave list shows yours"))

    def mine(self) -> tuple[list[dict[str, Any]], bool]:
        """The token owner's gists, every page (Link: rel="next"); True when there were more
        than MAX_PAGES pages."""
        found: list[dict[str, Any]] = []
        url: str = "/gists"
        params: dict[str, int] | None = {"per_page": PER_PAGE}
        for _ in range(MAX_PAGES):
            response = self._call("GET", url, params=params)
            page = _json(response)
            if not isinstance(page, list):
                raise CloudError(f"{response.url} answered something other than a list of gists")
            found.extend(g for g in page if isinstance(g, dict))
            url, params = response.links.get("next", {}).get("url", ""), None  # the link has them
            if not url:
                return found, False
            if not _same_origin(url, self.api_url):  # the token goes nowhere else
                raise CloudError(f"GitHub's next page is on another server ({url}); not followed")
        return found, True

    def raw(self, url: str) -> str:
        """A file too big for the API's answer, from its raw_url: another host on github.com,
        which serves secret gists to whoever has the link, so the token is left out there."""
        if not url:
            raise CloudError("GitHub gave the session file neither its content nor a raw_url")
        if _same_origin(url, self.api_url):
            return self._call("GET", url).text
        with httpx.Client(timeout=self._client.timeout, headers={"User-Agent": USER_AGENT}) as plain:
            return self._call("GET", url, client=plain).text

    def _call(self, method: str, url: str, *, missing: str = "", client: httpx.Client | None = None,
              **kwargs: Any) -> httpx.Response:
        parts = urlsplit(url)
        where = f"{parts.scheme}://{parts.netloc}" if parts.netloc else self.api_url
        try:
            response = (client or self._client).request(method, url, **kwargs)
        except httpx.TimeoutException:
            raise CloudError(f"{where} did not answer in time; try again, or check the "
                             "github_base_url setting") from None
        except httpx.TransportError as exc:
            raise CloudError(f"Cannot reach {where} ({exc or type(exc).__name__}); check the "
                             "network connection, or the github_base_url setting") from None
        if response.is_success:
            return response
        raise _failure(response, missing)


def _failure(response: httpx.Response, missing: str) -> CloudError:
    status, headers = response.status_code, response.headers
    said = _message(response)
    if status == 401:
        return TokenRefused(f"GitHub refused the saved token (401 {said}): it may have expired or been "
                            f"revoked; run /cloudsave setup TOKEN with {NEEDS}")
    if status in (403, 429) and (headers.get("x-ratelimit-remaining") == "0" or "retry-after" in headers
                                 or status == 429):
        return CloudError(f"GitHub's rate limit is reached ({said}); {_when(headers)}")
    if status == 403:
        return CloudError(f'GitHub refused the request (403 {said}): the token needs the "{SCOPE}" '
                          "scope; run /cloudsave setup TOKEN with one that has it")
    if status == 404:
        return GistMissing(missing or f"GitHub has no {response.url.path} (404)")
    return CloudError(f"GitHub answered {status} to {response.request.method} {response.url.path}: {said}")


def _message(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.reason_phrase or response.text[:200]
    said = str(data.get("message") or response.reason_phrase) if isinstance(data, dict) else str(data)
    errors = data.get("errors") if isinstance(data, dict) else None
    return f"{said}: {json.dumps(errors)}" if errors else said


def _when(headers: httpx.Headers) -> str:
    """When to try again: Retry-After (seconds) for the secondary limits, else the reset
    time of the hourly one."""
    wait = headers.get("retry-after", "")
    if wait.isdigit():
        return f"try again in {wait} s"
    reset = headers.get("x-ratelimit-reset", "")
    if reset.isdigit():
        return f"it resets at {datetime.fromtimestamp(int(reset)):%H:%M:%S}; try again then"
    return "try again later"


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise CloudError(f"{response.url} answered something other than JSON: is the github_base_url "
                         "setting GitHub's API?") from None


def _object(response: httpx.Response) -> dict[str, Any]:
    data = _json(response)
    if not isinstance(data, dict):
        raise CloudError(f"{response.url} answered {type(data).__name__}, not an object")
    return data


def _gist(response: httpx.Response) -> dict[str, Any]:
    gist = _object(response)
    if not isinstance(gist.get("id"), str) or not isinstance(gist.get("files"), dict):
        raise CloudError(f"{response.url} answered something that is not a gist (no id or files)")
    return gist


def _same_origin(url: str, base: str) -> bool:
    a, b = urlsplit(url), urlsplit(base)
    return (a.scheme, a.netloc) == (b.scheme, b.netloc) or not a.netloc


# --- what the commands do --------------------------------------------------------------


def setup(home: Path, api_url: str, token: str) -> str:
    """Check a token with GitHub, then keep it; returns the account's login. The uploads
    known so far are kept when the account and API are the same."""
    token = token.strip()
    if not token or not token.isascii() or not token.isprintable() or any(c.isspace() for c in token):
        raise CloudError(f"Expected one token after /cloudsave setup: {NEEDS}")
    known = Account.read(home)  # before the request: a broken file stops us with nothing changed
    with GistApi(api_url, token) as api:
        try:
            login, scopes = api.user()
        except TokenRefused:
            raise CloudError(f"GitHub refused this token (401): use {NEEDS}; nothing was saved") from None
    if scopes is not None and SCOPE not in [s.strip() for s in scopes.split(",")]:
        raise CloudError(f'The token works for {login} but lacks the "{SCOPE}" scope (it has: '
                         f"{scopes or 'none'}); add it at {TOKEN_PAGE}; nothing was saved")
    same = (known.login, known.api_url) == (login, api_url)
    Account(token, login, api_url, known.uploads if same else {}).write(home)
    return login


@dataclass(frozen=True)
class Pushed:
    gist_id: str
    url: str
    created: bool
    replaced: str = ""  # the session's earlier gist, gone from GitHub: a new one was made


def push(home: Path, api_url: str, session: RecordedSession, model: str, note: str = "",
         clock: Callable[[], datetime] = datetime.now) -> Pushed:
    """Upload a session: its gist updated, or a new secret one. A note given once stays in
    the description of later uploads."""
    account = Account.read(home)
    token = account.token_for(api_url)
    digest = messages_digest(session.messages)
    upload = account.uploads.get(session.id)
    note = note.strip() or (upload.note if upload else "")
    data = snapshot(session, model, clock)
    name = f"{FILE_PREFIX}{session.id}.json"
    content = json.dumps(data, ensure_ascii=False, indent=1) + "\n"
    description = describe(data["title"], note)
    gist, replaced = None, ""
    with GistApi(api_url, token) as api:
        if upload is not None:  # renamed when a loaded copy (another id) updates the gist it came from
            spec = {"content": content, **({"filename": name} if upload.file != name else {})}
            try:
                gist = api.update(upload.gist, description, {upload.file: spec})
            except GistMissing:
                replaced = upload.gist
        if gist is None:
            gist = api.create(description, {name: {"content": content}})
    account = Account.read(home)  # again: another REPL may have uploaded meanwhile
    account.uploads[session.id] = Upload(gist["id"], name, digest, note)
    account.write(home)
    return Pushed(gist["id"], str(gist.get("html_url") or ""), upload is None or bool(replaced), replaced)


def uploaded(home: Path, session: RecordedSession) -> bool:
    """Whether the session's gist already holds these very messages."""
    upload = Account.read(home).uploads.get(session.id)
    return upload is not None and upload.digest == messages_digest(session.messages)


def snapshot(session: RecordedSession, model: str, clock: Callable[[], datetime]) -> dict[str, Any]:
    """The session as store.py's snapshots hold it."""
    messages = session.messages
    return {"session_id": session.id, "title": title(messages), "started_at": session.started_at,
            "saved_at": stamp(clock()), "cwd": session.cwd, "model": model,
            "turn_count": turn_count(messages), "message_count": len(messages),
            "messages": [message_to_dict(m) for m in messages]}


def describe(session_title: str, note: str) -> str:
    return f"{DESCRIPTION_PREFIX}{session_title or '(untitled)'}" + (f" - {note}" if note else "")


def messages_digest(messages: list[Message]) -> str:
    dumped = json.dumps([message_to_dict(m) for m in messages], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(dumped.encode()).hexdigest()


@dataclass(frozen=True)
class Gist:
    """One of the user's session gists, for the listing."""

    id: str
    updated_at: str  # ISO 8601, UTC, as GitHub gives it
    description: str

    @property
    def when(self) -> str:
        """Local time, as the session listings show theirs."""
        try:
            moment = datetime.fromisoformat(self.updated_at.replace("Z", "+00:00"))
        except ValueError:
            return self.updated_at
        return f"{moment.astimezone():%Y-%m-%d %H:%M}"


def listing(home: Path, api_url: str) -> tuple[list[Gist], bool]:
    """The user's nano-claude gists, newest change first; True when only the newest
    MAX_PAGES pages of their gists were read."""
    token = Account.read(home).token_for(api_url)
    with GistApi(api_url, token) as api:
        gists, more = api.mine()
    found = [Gist(str(g["id"]), str(g.get("updated_at") or ""), str(g.get("description") or ""))
             for g in gists if is_session_gist(g)]
    return sorted(found, key=lambda g: g.updated_at, reverse=True), more


def is_session_gist(gist: dict[str, Any]) -> bool:
    """By its description, or by its file for one whose description was edited on the web."""
    if not isinstance(gist.get("id"), str):
        return False
    files = gist.get("files") if isinstance(gist.get("files"), dict) else {}
    return (str(gist.get("description") or "").startswith(DESCRIPTION_PREFIX)
            or any(str(name).startswith(FILE_PREFIX) for name in files))


@dataclass(frozen=True)
class Downloaded:
    path: Path  # the local copy, a snapshot store.load_file reads
    gist_id: str
    file: str
    owner: str
    note: str


GIST_ID = re.compile(r"[0-9A-Za-z]+")


def gist_id_of(ref: str) -> str:
    """A gist id, or the id at the end of a gist's URL."""
    ref = ref.strip()
    gist_id = urlsplit(ref).path.rstrip("/").rsplit("/", 1)[-1] if "://" in ref else ref
    if not GIST_ID.fullmatch(gist_id):
        raise CloudError(f"{ref!r} is not a gist id (like 3f9c1b2e4d5a...): /cloudsave list shows yours")
    return gist_id


def download(home: Path, api_url: str, ref: str, folder: Path) -> Downloaded:
    """A session gist, checked and kept in `folder` as cloud_<gist id>.json."""
    gist_id = gist_id_of(ref)
    token = Account.read(home).token_for(api_url)
    with GistApi(api_url, token) as api:
        gist = api.get(gist_id)
        files = gist["files"]
        names = sorted(n for n in files if n.startswith(FILE_PREFIX) and n.endswith(".json"))
        if not names:
            shown = ", ".join(sorted(files)) or "none"
            raise CloudError(f"Gist {gist_id} holds no nano-claude session (its files: {shown})")
        file = files[names[0]] if isinstance(files[names[0]], dict) else {}
        content = file.get("content")  # cut at about 1 MB, and then the rest is at raw_url
        if file.get("truncated") or not isinstance(content, str):
            content = api.raw(str(file.get("raw_url") or ""))
    data = _session_data(content, f"gist {gist_id} ({names[0]})")
    path = folder / f"{COPY_PREFIX}{gist_id}.json"
    try:
        atomic_write(path, content, mode=0o600)
    except OSError as exc:
        raise CloudError(f"cannot write {path}: {exc.strerror or exc}") from exc
    owner = gist.get("owner")
    login = str(owner.get("login") or "") if isinstance(owner, dict) else ""
    head = describe(str(data.get("title") or ""), "") + " - "  # what follows is the push's DESC
    description = str(gist.get("description") or "")
    note = description[len(head):] if description.startswith(head) else ""
    return Downloaded(path, gist_id, names[0], login, note)


def _session_data(content: str, where: str) -> dict[str, Any]:
    try:
        data = json.loads(content)
    except ValueError as exc:
        raise CloudError(f"{where} is not a session: not JSON ({exc}); nothing was loaded") from None
    if not isinstance(data, dict) or not isinstance(data.get("messages"), list):
        raise CloudError(f'{where} is not a session: it has no "messages" list; nothing was loaded')
    return data


def adopt(home: Path, api_url: str, session: RecordedSession, downloaded: Downloaded) -> None:
    """A session loaded from one of the user's own gists uploads to that gist from now on."""
    account = Account.read(home)
    if downloaded.owner and downloaded.owner == account.login and account.api_url == api_url:
        account.uploads[session.id] = Upload(downloaded.gist_id, downloaded.file,
                                             messages_digest(session.messages), downloaded.note)
        account.write(home)


def auto_upload(state: ReplState) -> str | None:
    """For the REPL's way out when `cloudsave_auto` is on: upload the session if it changed
    since its last upload. Returns what to tell the user, None for nothing. Never raises:
    leaving must not fail because GitHub did, so every failure is the message."""
    if not state.settings.cloudsave_auto:
        return None
    session = state.session
    if not isinstance(session, RecordedSession) or not session.messages:
        return None
    home = state.paths.home
    try:
        if uploaded(home, session):
            return None
        pushed = push(home, api_of(state.settings), session, state.agent.model.qualified)
    except Exception as exc:
        return f"Cloud upload failed: {exc}"
    return f"Session uploaded to gist {pushed.gist_id}: {pushed.url}"
