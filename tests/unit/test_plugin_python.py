"""Python plugins (extensions/plugins/python.py): a plugin folder's tool modules, loaded for real
through pluggy, and entry-point plugins found by a real importlib.metadata scan of a fake
distribution in a subprocess."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from nano_claude.extensions.plugins import Active
from nano_claude.extensions.plugins.entry_points import CACHE_FILE
from nano_claude.extensions.plugins.manifest import read_plugin
from nano_claude.extensions.plugins.python import tools_for
from nano_claude.tools.base import ToolContext

TOOL_MODULE = '''
from pydantic import BaseModel, Field

from nano_claude.plugin import ToolOutput, hookimpl


class Args(BaseModel):
    text: str = Field(description="The text to count")


class {cls}:
    name = "{name}"
    description = "Counts the words of a text."
    input_model = Args
    read_only = True
    concurrency_safe = True

    def summary(self, args):
        return args.text[:20]

    async def run(self, args, ctx):
        return ToolOutput.text(f"{{len(args.text.split())}} words ({name})")


@hookimpl
def register_tools(profile):
    return [{cls}()]
'''


def tool_source(name: str) -> str:
    return TOOL_MODULE.format(cls=f"{name}Tool", name=name)


def plugin(folder: Path, name: str, tools_py: str, *, code: bool = True, **manifest: object) -> Active:
    root = folder / name
    root.mkdir(parents=True)
    (root / "plugin.json").write_text(json.dumps({"name": name, "tools": ["tools"], **manifest}))
    (root / "tools.py").write_text(textwrap.dedent(tools_py))
    return Active(read_plugin(root), "user", folder / "data" / name, code=code)


@pytest.fixture(autouse=True)
def _restore_sys_path() -> Iterator[None]:
    """A plugin's folders are added to sys.path for the process; these tests' are taken out."""
    before = list(sys.path)
    yield
    sys.path[:] = before


def load(tmp_path: Path, *active: Active) -> tuple[dict[str, object], list[str]]:
    notes: list[str] = []
    tools = tools_for("full", list(active), notes, environ={"XDG_CACHE_HOME": str(tmp_path / "cache")})
    return {tool.name: tool for tool in tools}, notes


def test_a_plugins_tool_module_registers_its_tool_after_the_builtins(tmp_path: Path) -> None:
    tools, notes = load(tmp_path, plugin(tmp_path, "counter", tool_source("WordCount")))
    assert notes == []
    names = list(tools)
    assert names[0] == "Read" and names[-1] == "WordCount"
    out = asyncio.run(tools["WordCount"].run(tools["WordCount"].input_model(text="one two three"),
                                             ToolContext(cwd=tmp_path, environ={})))
    assert out.content[0].text == "3 words (WordCount)"


def test_two_plugins_tools_modules_do_not_clash(tmp_path: Path) -> None:
    tools, notes = load(tmp_path, plugin(tmp_path, "one", tool_source("First")),
                        plugin(tmp_path, "two", tool_source("Second")))
    assert notes == []
    assert {"First", "Second"} <= set(tools)


def test_two_plugins_each_import_their_own_helpers_module(tmp_path: Path) -> None:
    made = []
    for name in ("pa", "pb"):
        body = (tool_source(f"Who{name}")
                .replace("from pydantic", "from . import helpers\nfrom pydantic")
                .replace("return ToolOutput", "from . import late\n        return ToolOutput")
                .replace("{len(args.text.split())} words", "{helpers.WHO} {late.WHEN}"))
        active = plugin(tmp_path, name, body)
        (active.plugin.root / "helpers.py").write_text(f"WHO = 'helpers of {name}'\n")
        (active.plugin.root / "late.py").write_text(f"WHEN = 'imported late by {name}'\n")
        made.append(active)
    tools, notes = load(tmp_path, *made)
    assert notes == []
    context = ToolContext(cwd=tmp_path, environ={})
    said = [asyncio.run(tools[f"Who{n}"].run(tools[f"Who{n}"].input_model(text="x"), context)).content[0].text
            for n in ("pa", "pb")]
    # each its own helpers, and a module imported only when the tool runs (inside a function)
    assert said == ["helpers of pa imported late by pa (Whopa)", "helpers of pb imported late by pb (Whopb)"]


def test_a_tools_package_folder_loads_with_its_own_modules(tmp_path: Path) -> None:
    root = tmp_path / "pkg"
    (root / "tools").mkdir(parents=True)
    (root / "plugin.json").write_text(json.dumps({"name": "pkg", "tools": ["tools"]}))
    (root / "tools" / "impl.py").write_text(tool_source("FromPackage"))
    (root / "tools" / "__init__.py").write_text("from .impl import register_tools\n")
    tools, notes = load(tmp_path, Active(read_plugin(root), "user", tmp_path / "data", code=True))
    assert notes == [] and "FromPackage" in tools


def test_a_module_that_raises_on_import_is_a_note_and_the_others_still_load(tmp_path: Path) -> None:
    broken = plugin(tmp_path, "broken", "import os\nraise RuntimeError('no config file')\n")
    tools, notes = load(tmp_path, broken, plugin(tmp_path, "fine", tool_source("Fine")))
    assert "Fine" in tools and "Read" in tools
    assert len(notes) == 1
    assert notes[0].startswith("plugin broken (tools.py) failed on import: RuntimeError: no config file "
                               "(at tools.py line 2)")
    assert "nano_claude plugin disable broken" in notes[0]


def test_a_syntax_error_names_the_line(tmp_path: Path) -> None:
    _, notes = load(tmp_path, plugin(tmp_path, "typo", "x = 1\ndef (:\n"))
    assert "SyntaxError" in notes[0] and "(at tools.py line 2)" in notes[0]


def test_a_missing_dependency_says_which_module_and_that_dependencies_should_list_it(tmp_path: Path) -> None:
    active = plugin(tmp_path, "needy", "import yaml\nimport left_pad_nowhere_xyz\n")
    _, notes = load(tmp_path, active)
    assert len(notes) == 1
    assert "needs the module 'left_pad_nowhere_xyz', which is not installed" in notes[0]
    assert '"dependencies" in plugin.json' in notes[0]


def test_dependencies_never_installed_are_named(tmp_path: Path) -> None:
    active = plugin(tmp_path, "unset", "import left_pad_nowhere_xyz\n", dependencies=["left-pad-nowhere-xyz"])
    _, notes = load(tmp_path, active)
    assert f"never installed into {active.plugin.root / '.deps'}" in notes[0]


def test_the_plugins_deps_folder_is_importable(tmp_path: Path) -> None:
    active = plugin(tmp_path, "deps", tool_source("Deps").replace(
        "from pydantic", "import vendored_thing_abc\nfrom pydantic"))
    deps = active.plugin.root / ".deps" / "vendored_thing_abc"
    deps.mkdir(parents=True)
    (deps / "__init__.py").write_text("")
    tools, notes = load(tmp_path, active)
    assert notes == [] and "Deps" in tools


def test_a_tool_with_a_builtins_name_is_refused(tmp_path: Path) -> None:
    tools, notes = load(tmp_path, plugin(tmp_path, "sneaky", tool_source("Read")))
    assert type(tools["Read"]).__module__ == "nano_claude.tools.read"
    assert notes == ["plugin sneaky (tools.py): the tool 'Read' has the name of a built-in tool; it was not "
                     "loaded (give it another name)"]


def test_two_plugins_with_one_tool_name_keep_the_first(tmp_path: Path) -> None:
    tools, notes = load(tmp_path, plugin(tmp_path, "a", tool_source("Same")),
                        plugin(tmp_path, "b", tool_source("Same")))
    assert tools["Same"].__class__.__module__.startswith("nano_claude_plugin_a_")
    assert notes == ["plugin b (tools.py): the tool 'Same' has the name of plugin a (tools.py); it was not "
                     "loaded (give it another name)"]


@pytest.mark.parametrize(("body", "expected"), [
    ("X = 1\n", "defines no hook; add `@hookimpl def register_tools(profile)"),
    ("from nano_claude.plugin import hookimpl\n@hookimpl\ndef register_tools(profile):\n"
     "    return ['Read']\n",
     "returned 'Read' (a str), which is not a tool: it has no name, description"),
    ("from nano_claude.plugin import hookimpl\nclass T:\n    pass\n"
     "@hookimpl\ndef register_tools(profile):\n    return [T]\n",
     "returned the class T, not a tool: return an instance, T()"),
    ("from nano_claude.plugin import hookimpl\n@hookimpl\ndef register_tools(profile):\n"
     "    raise KeyError('k')\n",
     "register_tools failed: KeyError: 'k' (at "),
    ("from nano_claude.plugin import hookimpl\n@hookimpl\ndef register_tools(prof):\n    return []\n",
     "cannot be used: "),
])
def test_a_module_that_gives_no_tool_is_a_note(tmp_path: Path, body: str, expected: str) -> None:
    tools, notes = load(tmp_path, plugin(tmp_path, "odd", body))
    assert "Read" in tools
    assert len(notes) == 1 and notes[0].startswith("plugin odd (tools.py)")
    assert expected in notes[0]


def test_code_the_user_did_not_allow_is_not_imported(tmp_path: Path) -> None:
    marker = tmp_path / "imported"
    active = plugin(tmp_path, "untrusted", f"open({str(marker)!r}, 'w').close()\n", code=False)
    tools, notes = load(tmp_path, active)
    assert not marker.exists() and notes == [] and "Read" in tools


def test_the_compact_profile_keeps_a_plugins_tool(tmp_path: Path) -> None:
    notes: list[str] = []
    tools = tools_for("compact", [plugin(tmp_path, "small", tool_source("Small"))], notes,
                      environ={"XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert [t.name for t in tools] == ["Read", "Glob", "Grep", "Edit", "Write", "Bash", "Small"]


# --- entry points, in a subprocess: a real scan of a fake distribution -----------------------


ENTRY_PLUGIN = '''
from nano_claude.plugin import Command, ProviderSpec, hookimpl
{tool}

async def _hello(state, args):
    state.echo("hello " + args)


@hookimpl
def register_commands():
    return [Command("hello", "Say hello", _hello), Command("help", "Taken", _hello)]


@hookimpl
def register_providers():
    return [ProviderSpec("acme", "openai", "ACME_API_KEY", base_url="http://127.0.0.1:9/v1", label="Acme"),
            ProviderSpec("openai", "openai", label="Not allowed")]
'''

PROBE = '''
import json, sys
from nano_claude.extensions.plugins.python import tools_for
from nano_claude.ui.commands import find, problems
from nano_claude.core.errors import UnknownModelError
from nano_claude.providers.catalog import PROVIDERS, model_info
try:
    acme = model_info("acme/big-model").qualified
except UnknownModelError as exc:
    acme = str(exc)
notes = []
tools = [t.name for t in tools_for("full", [], notes)]
hello = find("hello")
print(json.dumps({"tools": tools, "notes": notes, "hello": hello.help if hello else None,
                  "command_notes": problems(), "help": find("help").help,
                  "acme": acme, "providers": list(PROVIDERS)}))
'''


def fake_distribution(site: Path, module: str = "acme_plugin", value: str = "acme_plugin", *,
                      tool: str = "") -> Path:
    """A distribution as pip leaves it: the module and a dist-info folder with entry_points.txt."""
    dist = site / f"{module}-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module.replace('_', '-')}\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[nano_claude.plugins]\n{module} = {value}\n")
    (site / f"{module}.py").write_text(ENTRY_PLUGIN.format(tool=tool or tool_source("AcmeTool")))
    return dist


def probe(tmp_path: Path, site: Path | None, *, cwd: Path | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    if site is not None:
        env["PYTHONPATH"] = str(site)
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env,
                          cwd=cwd or tmp_path, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_an_entry_point_plugin_adds_tools_commands_and_providers(tmp_path: Path) -> None:
    site = tmp_path / "site"
    fake_distribution(site)
    out = probe(tmp_path, site)
    assert out["tools"][-1] == "AcmeTool" and out["tools"][0] == "Read"
    assert out["notes"] == []
    assert out["hello"] == "Say hello"
    assert out["help"] != "Taken"  # a built-in command's name stays the built-in's
    assert out["command_notes"] == ["Python plugin acme_plugin (package acme-plugin): the command /help "
                                    "has a name already taken (help); it was left out"]
    assert out["acme"] == "acme/big-model"
    assert out["providers"].count("openai") == 1 and "acme" in out["providers"]


def test_the_scan_is_cached_until_a_folder_on_the_path_changes(tmp_path: Path) -> None:
    site = tmp_path / "site"
    fake_distribution(site)
    (site / "other_plugin.py").write_text(ENTRY_PLUGIN.format(tool=tool_source("OtherTool")))
    assert probe(tmp_path, site)["tools"][-1] == "AcmeTool"
    cache = tmp_path / "cache" / "nano_claude" / CACHE_FILE
    saved = json.loads(cache.read_text())
    assert saved["found"] == [["acme_plugin", "acme_plugin", "acme-plugin"]]
    assert [str(site), os.stat(site).st_mtime_ns] in saved["key"]
    # While no folder changed, the cache answers, not a scan: pointed at another module, it is used
    cache.write_text(json.dumps({**saved, "found": [["other", "other_plugin", "other"]]}))
    assert probe(tmp_path, site)["tools"][-1] == "OtherTool"
    # A pip install or uninstall changes its folder: scanned again
    (site / "new_file.txt").write_text("")
    os.utime(site, ns=(os.stat(site).st_mtime_ns + 10**9,) * 2)
    assert probe(tmp_path, site)["tools"][-1] == "AcmeTool"
    assert json.loads(cache.read_text())["found"][0][0] == "acme_plugin"


def test_an_entry_point_that_fails_to_load_is_a_note(tmp_path: Path) -> None:
    site = tmp_path / "site"
    fake_distribution(site, tool="raise ImportError('acme needs libfoo')")
    out = probe(tmp_path, site)
    assert out["tools"][-1] == "MemoryList"  # the built-ins, all of them
    assert len(out["notes"]) == 1
    assert out["notes"][0].startswith("Python plugin acme_plugin (package acme-plugin): could not be loaded "
                                      "(acme_plugin): ImportError: acme needs libfoo")
    assert "pip uninstall acme-plugin" in out["notes"][0]
    # asked for the plugin's provider, the error says why it is missing
    assert out["acme"].startswith("unknown model 'acme/big-model'")
    assert "ImportError: acme needs libfoo" in out["acme"]


def test_a_distribution_in_the_folder_the_agent_starts_in_is_not_loaded(tmp_path: Path) -> None:
    """A cloned repository holding a *.dist-info folder must not run code."""
    repo = tmp_path / "repo"
    fake_distribution(repo)
    out = probe(tmp_path, None, cwd=repo)
    assert "AcmeTool" not in out["tools"] and out["hello"] is None


def test_no_plugin_is_scanned_for_a_builtin_provider(tmp_path: Path) -> None:
    site = tmp_path / "site"
    fake_distribution(site)
    env = {**os.environ, "PYTHONPATH": str(site), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    code = ("import sys; from nano_claude.providers.catalog import model_info; model_info('openai/gpt-4.1'); "
            "model_info('claude-sonnet-4-6'); print('pluggy' in sys.modules, 'acme_plugin' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.stdout.split() == ["False", "False"], done.stderr
    assert not (tmp_path / "cache" / "nano_claude" / CACHE_FILE).exists()
