"""Pull an embedded model from the Hugging Face Hub into the Hub's own cache; remove one.

Through huggingface_hub's client, so HF_ENDPOINT, HF_HOME, HF_HUB_CACHE, HF_HUB_OFFLINE,
HF_TOKEN and proxies work as for every other tool, and what is pulled is shared with
them: its HEAD (`get_hf_file_metadata`) gives the commit, the size and the file's
sha256 (the LFS object id, sent as X-Linked-Etag); its `http_get` streams with a
progress bar and, when the connection drops, asks again with a Range header for the
rest; `hf_hub_download` then links the finished blob into its snapshot and ref.

Two things huggingface_hub 2.4's `hf_hub_download` does not do are done here:
- resume after an interrupt: it downloads into a temporary file named per process and
  deletes it on any failure, so a Ctrl+C at 90% of 2.5 GB starts over. We write
  `blobs/<sha256>.incomplete` ourselves, keep it on failure, and resume from its size.
  A record beside it (`<sha256>.incomplete.json`, the file's name and size) lets
  `models` show it and `models rm` delete it without asking the Hub which sha is whose.
- check the sha256: it checks the size only (and the hash only of Xet downloads). We
  hash the file before it becomes a blob; a mismatch deletes it and says so, and no
  snapshot link or ref is made.

Imported only by `nano_claude models` and the REPL's offer to pull: huggingface_hub
takes 0.2 s to import.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

from nano_claude.core.errors import NanoClaudeError, UsageError
from nano_claude.providers.embedded import cached, gigabytes, hub_cache, repo_folder

SHA256 = re.compile(r"[0-9a-f]{64}")
CHUNK = 8 << 20


class PullFailed(NanoClaudeError):
    """The Hub could not be reached, or what came from it was wrong."""


@dataclass(frozen=True)
class Pulled:
    path: Path  # the snapshot's link to the blob
    size: int
    downloaded: bool  # False: it was in the cache already


def pull(repo: str, file: str, out: TextIO, revision: str = "main") -> Pulled:
    """The file in the cache, downloaded first if it is not there. Raises UsageError
    (offline, no such file), PullFailed (network, checksum); KeyboardInterrupt leaves the
    partial file for the next pull to resume."""
    try:
        from huggingface_hub import constants
    except ImportError as exc:
        from nano_claude.install import install_command

        raise UsageError(f"pulling models needs huggingface_hub: {install_command('local')}") from exc
    have = cached(repo, file, revision)
    if constants.HF_HUB_OFFLINE:
        if have is not None:
            return Pulled(have, have.stat().st_size, downloaded=False)
        raise UsageError(f"HF_HUB_OFFLINE is set, so {file} cannot be downloaded from {repo}: unset it "
                         "(or pull it on a machine with network access into the same cache)")
    meta = _metadata(repo, file, revision)
    sha = meta.etag or ""
    if not SHA256.fullmatch(sha):
        raise PullFailed(f"the Hub gave no sha256 for {file} in {repo} (ETag {sha!r}): nano_claude only "
                         "pulls files it can check; is HF_ENDPOINT a Hugging Face Hub?")
    if have is not None and (entry := _entry(have)) is not None and entry.name == sha:
        return Pulled(have, have.stat().st_size, downloaded=False)
    cache = hub_cache()
    assert cache is not None  # huggingface_hub imported above
    blob = repo_folder(cache, repo) / "blobs" / sha
    fetched = not blob.exists()  # else another tool pulled the same bytes: only the link is missing
    if fetched:
        size = meta.size or 0
        print(f"Downloading {file} from {repo} ({gigabytes(size) if size else 'size unknown'}) "
              f"into {cache}", file=out, flush=True)
        partial = blob.with_name(sha + ".incomplete")
        same_host = urlsplit(meta.location).netloc == urlsplit(constants.ENDPOINT).netloc
        with _lock(cache, repo, sha, file, out):
            if not blob.exists():  # another pull may have finished it while we waited
                _write_record(partial, file, meta.size)
                _download(meta.location, partial, meta.size, file, out, same_host=same_host)
                _check(partial, sha, file, repo, out)
                _chmod_like_folder(partial)
                os.replace(partial, blob)
                _record_of(partial).unlink(missing_ok=True)
    return Pulled(_link(repo, file, revision), blob.stat().st_size, downloaded=fetched)


@contextlib.contextmanager
def _lock(cache: Path, repo: str, sha: str, file: str, out: TextIO) -> Iterator[None]:
    """huggingface_hub's own lock for this blob: two pulls (ours or another tool's) never
    write one file at once."""
    from filelock import FileLock, Timeout

    path = cache / ".locks" / repo_folder(cache, repo).name / f"{sha}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        print(f"Waiting for another download of {file} to finish…", file=out, flush=True)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def _metadata(repo: str, file: str, revision: str) -> Any:
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        HfHubHTTPError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    url = hf_hub_url(repo, file, revision=revision)
    try:
        return get_hf_file_metadata(url)
    except GatedRepoError as exc:
        raise UsageError(f"{repo} is gated: accept its terms on the Hub and set HF_TOKEN ({exc})") from exc
    except (RepositoryNotFoundError, RevisionNotFoundError, EntryNotFoundError) as exc:
        raise UsageError(f"the Hub has no {file} in {repo} (at {revision}): check the name") from exc
    except (HfHubHTTPError, OSError) as exc:  # httpx2's transport errors are OSErrors there
        raise PullFailed(f"cannot ask the Hub for {file}: {exc}") from exc
    except Exception as exc:
        if type(exc).__module__.startswith("httpx"):
            raise PullFailed(f"cannot reach the Hub for {file}: {exc}") from exc
        raise


def _download(url: str, partial: Path, size: int | None, file: str, out: TextIO, *, same_host: bool) -> None:
    """Into `partial`, after what it holds already (Range). What a failure leaves stays
    there: the next pull goes on from it. A token goes only to the Hub itself, not to the
    CDN its HEAD redirected to (as huggingface_hub does)."""
    from huggingface_hub import constants
    from huggingface_hub.file_download import http_get
    from huggingface_hub.utils import build_hf_headers

    partial.parent.mkdir(parents=True, exist_ok=True)
    with partial.open("a+b") as handle:
        have = handle.seek(0, os.SEEK_END)
        if size is not None and have > size:  # not this file's start: begin again
            handle.truncate(0)
            have = 0
        if have:
            print(f"Resuming at {gigabytes(have)}", file=out, flush=True)
        try:
            bar = progress_bar(out, bool(constants.HF_HUB_DISABLE_PROGRESS_BARS))
            headers = build_hf_headers()
            if not same_host:
                headers.pop("authorization", None)
            http_get(url, handle, resume_size=have, headers=headers, expected_size=size,
                     displayed_filename=file, tqdm_class=bar)
        except KeyboardInterrupt:
            raise
        except Exception as exc:
            done = handle.seek(0, os.SEEK_END)
            raise PullFailed(f"the download of {file} stopped at {gigabytes(done)}"
                             f"{f' of {gigabytes(size)}' if size else ''}: {exc}; pull again to resume "
                             "from there") from exc


def _check(partial: Path, sha: str, file: str, repo: str, out: TextIO) -> None:
    print("Checking its sha256…", file=out, flush=True)
    digest = hashlib.sha256()
    with partial.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    got = digest.hexdigest()
    if got == sha:
        print(f"sha256 {sha[:16]}… matches the Hub's", file=out, flush=True)
        return
    partial.unlink(missing_ok=True)
    _record_of(partial).unlink(missing_ok=True)
    _prune(partial.parent)
    raise PullFailed(f"the download of {file} from {repo} does not match the Hub's sha256 (expected "
                     f"{sha}, got {got}): it was deleted, nothing was kept; pull again, and if it fails "
                     "again, a proxy or mirror (HF_ENDPOINT) is serving something else")


def _link(repo: str, file: str, revision: str) -> Path:
    """Let huggingface_hub link the blob into its snapshot and write the ref, as it would
    after its own download (it finds the blob and downloads nothing)."""
    from huggingface_hub import hf_hub_download

    try:
        return Path(str(hf_hub_download(repo, file, revision=revision)))
    except Exception as exc:
        raise PullFailed(f"{file} was downloaded and checked, but linking it into the cache failed: "
                         f"{exc}") from exc


def _chmod_like_folder(path: Path) -> None:
    """The mode a new file in its folder gets (the umask's), not the temporary file's 0600."""
    probe = path.with_name(f".mode-{os.getpid()}")
    try:
        probe.touch()
        os.chmod(path, probe.stat().st_mode & 0o777)
    except OSError:
        pass
    finally:
        probe.unlink(missing_ok=True)


def _prune(blobs: Path) -> None:
    """Remove the blobs folder and the repository's folder if a failed pull left them empty."""
    for folder in (blobs, blobs.parent):
        with contextlib.suppress(OSError):
            folder.rmdir()


def progress_bar(out: TextIO, disabled: bool) -> type:
    """A tqdm bar on `out` (size, percentage, speed, time left), shown whether or not
    `out` is a terminal; HF_HUB_DISABLE_PROGRESS_BARS turns it off."""
    from tqdm import tqdm

    class Bar(tqdm):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.update(file=out, disable=disabled, mininterval=0.5, dynamic_ncols=True)
            super().__init__(*args, **kwargs)

    return Bar


@dataclass(frozen=True)
class Partial:
    """An interrupted download of one file: `blobs/<sha256>.incomplete`, and beside it the
    record (`<sha256>.incomplete.json`) a pull writes before it starts, naming the file and
    its size. The record is what ties a partial download to a file without asking the Hub."""

    path: Path
    record: Path
    have: int
    size: int | None


def partials(repo: str, file: str) -> list[Partial]:
    """The interrupted downloads of `file` in the cache (never the network)."""
    cache = hub_cache()
    blobs = repo_folder(cache, repo) / "blobs" if cache is not None else None
    found = []
    for record in sorted(blobs.glob("*.incomplete.json")) if blobs is not None and blobs.is_dir() else []:
        try:
            about = json.loads(record.read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(about, dict) or about.get("file") != file:
            continue
        path = record.with_suffix("")
        have = path.stat().st_size if path.is_file() else 0
        size = about.get("size")
        found.append(Partial(path, record, have, size if isinstance(size, int) else None))
    return found


def _write_record(partial: Path, file: str, size: int | None) -> None:
    partial.parent.mkdir(parents=True, exist_ok=True)
    _record_of(partial).write_text(json.dumps({"file": file, "size": size}))


def _record_of(partial: Path) -> Path:
    return partial.with_name(partial.name + ".json")


def _entry(link: Path) -> Path | None:
    """The repository's own `blobs/<sha256>` entry a snapshot link names: its first hop
    only. That entry may itself be a link into huggingface_hub's shared store, whose file
    other repositories use too, so what it points to is never ours to delete."""
    if not link.is_symlink():
        return None
    return Path(os.path.normpath(link.parent / os.readlink(link)))


@dataclass(frozen=True)
class Removed:
    paths: list[Path]  # what was deleted, in that order
    shared: list[Path]  # files of the shared store a deleted entry pointed to: left in place


def remove(repo: str, file: str) -> Removed:
    """Delete the file from the cache: its snapshot links, this repository's blob entry
    unless another link still needs it, its partial downloads, and then the snapshot, ref
    and repository folders it leaves empty. Only entries are deleted: a blob entry that
    links into the shared store is unlinked, the store's file stays (other repositories may
    use it; `hf cache prune` collects it once none does)."""
    cache = hub_cache()
    if cache is None:
        return Removed([], [])
    folder = repo_folder(cache, repo)
    snapshots, blobs_dir = folder / "snapshots", folder / "blobs"
    removed: list[Path] = []
    entries: set[Path] = set()
    emptied: list[Path] = []
    for snapshot in sorted(snapshots.iterdir()) if snapshots.is_dir() else []:
        link = snapshot / file
        if not (link.is_symlink() or link.exists()):
            continue
        if (entry := _entry(link)) is not None:
            entries.add(entry)
        link.unlink()
        removed.append(link)
        for parent in link.parents:
            if parent == snapshots:
                break
            with contextlib.suppress(OSError):
                parent.rmdir()
        if not snapshot.exists():
            emptied.append(snapshot)
    links = snapshots.rglob("*") if snapshots.is_dir() else iter(())
    still_used = {_entry(p) for p in links if p.is_symlink()}
    shared: list[Path] = []
    for entry in sorted(entries - still_used):
        if entry.parent != blobs_dir or not (entry.is_symlink() or entry.exists()):
            continue  # not this repository's own entry
        if entry.is_symlink() and (target := entry.resolve()).is_file():
            shared.append(target)
        entry.unlink()
        removed.append(entry)
    for partial in partials(repo, file):
        if partial.path.exists():
            partial.path.unlink()
            removed.append(partial.path)
        partial.record.unlink(missing_ok=True)
    if removed:
        _tidy(folder, {snapshot.name for snapshot in emptied})
    return Removed(removed, shared)


def _tidy(folder: Path, gone: set[str]) -> None:
    """Drop the refs naming a snapshot that was removed, then each folder left empty; the
    repository's folder goes only when nothing of it is left (its `.no_exist` markers of
    files the Hub lacks go with it)."""
    refs = folder / "refs"
    for ref in sorted(refs.rglob("*"), reverse=True) if refs.is_dir() else []:
        with contextlib.suppress(OSError):
            if ref.is_dir():
                ref.rmdir()
            elif ref.read_text().strip() in gone:
                ref.unlink()
    for sub in (refs, folder / "blobs"):
        with contextlib.suppress(OSError):
            sub.rmdir()
    snapshots = folder / "snapshots"
    if (folder / "blobs").exists() or (snapshots.is_dir() and any(snapshots.iterdir())):
        return
    with contextlib.suppress(OSError):
        snapshots.rmdir()
    shutil.rmtree(folder / ".no_exist", ignore_errors=True)
    with contextlib.suppress(OSError):
        folder.rmdir()
