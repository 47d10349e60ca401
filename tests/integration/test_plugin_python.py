"""Python plugins through the real CLI against the fake model server: a plugin folder whose tool
imports a dependency installed into the plugin's own folder, a broken one, and an installed
package's entry-point plugin that brings a tool and a provider."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Callable
from pathlib import Path

from tests.conftest import Cli
from tests.fakes.script import text, tool_call
from tests.fakes.server import FakeModelServer

MODEL = "claude-sonnet-4-6"

TOOLS_PY = '''
import wordlib
from pydantic import BaseModel, Field

from nano_claude.plugin import ToolContext, ToolOutput, hookimpl


class CountInput(BaseModel):
    text: str = Field(description="The text whose words to count")


class WordCountTool:
    name = "WordCount"
    description = "Count the words in a text."
    input_model = CountInput
    read_only = True
    concurrency_safe = True

    def summary(self, args: CountInput) -> str:
        return f"{len(args.text)} characters"

    async def run(self, args: CountInput, ctx: ToolContext) -> ToolOutput:
        return ToolOutput.text(f"{wordlib.count(args.text)} words (wordlib {wordlib.VERSION})")


@hookimpl
def register_tools(profile):
    return [WordCountTool()]
'''

ENTRY_POINT_PLUGIN = '''
from pydantic import BaseModel

from nano_claude.plugin import ProviderSpec, ToolOutput, hookimpl


class Empty(BaseModel):
    pass


class ShoutTool:
    name = "Shout"
    description = "Say something loud."
    input_model = Empty
    read_only = True
    concurrency_safe = True

    def summary(self, args):
        return ""

    async def run(self, args, ctx):
        return ToolOutput.text("HELLO FROM AN ENTRY POINT")


@hookimpl
def register_tools(profile):
    return [ShoutTool()]


@hookimpl
def register_providers():
    return [ProviderSpec("acme", "openai", "ACME_API_KEY", base_url_envs=("ACME_BASE_URL",), label="Acme")]
'''


def build_wheel(folder: Path, name: str = "wordlib", version: str = "1.0") -> Path:
    """A pure-Python wheel made by hand: a zip of the package and its dist-info (no network)."""
    info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": f'VERSION = "{version}"\n\n\ndef count(text):\n    return len(text.split())\n',
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = [f"{path},sha256={_digest(data.encode())},{len(data.encode())}" for path, data in files.items()]
    files[f"{info}/RECORD"] = "\n".join([*record, f"{info}/RECORD,,"]) + "\n"
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return wheel


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode().rstrip("=")


def write_plugin(root: Path, tools_py: str, **manifest: object) -> Path:
    root.mkdir(parents=True)
    (root / "plugin.json").write_text(json.dumps({"name": root.name, "version": "0.1.0",
                                                  "description": "Counts words", "tools": ["tools"],
                                                  **manifest}))
    (root / "tools.py").write_text(textwrap.dedent(tools_py))
    return root


def seen_in_last_message(needle: str) -> Callable[[dict], None]:
    def check(body: dict) -> None:
        assert needle in json.dumps(body["messages"][-1]), body["messages"][-1]
    return check


def run(cli: Cli, server: FakeModelServer, *args: str, env: dict[str, str] | None = None) -> object:
    return cli.run("-p", *args, env={"ANTHROPIC_API_KEY": "sk-test", "ANTHROPIC_BASE_URL": server.url,
                                     **(env or {})})


def test_a_python_tool_plugin_uses_a_dependency_installed_into_its_own_folder(
        cli: Cli, fake_server: FakeModelServer, tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path / "wheels")
    folder = write_plugin(tmp_path / "sources" / "wordy", TOOLS_PY, dependencies=[str(wheel)])
    installed = cli.run("plugin", "install", str(folder), "--yes", timeout=300)
    assert installed.returncode == 0, installed.stderr

    deps = cli.home / "plugins" / "wordy" / ".deps"
    assert (deps / "wordlib" / "__init__.py").is_file()
    outside = subprocess.run([sys.executable, "-c", "import wordlib"], capture_output=True, cwd=tmp_path)
    assert outside.returncode != 0  # never installed into the user's environment

    fake_server.script(tool_call("WordCount", {"text": "one two three"}),
                       text("Three words.", expect=seen_in_last_message("3 words (wordlib 1.0)")))
    result = run(cli, fake_server, "count the words", "-m", MODEL)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Three words.\n"
    first = fake_server.model_requests[0].body
    assert "WordCount" in [tool["name"] for tool in first["tools"]]


def test_a_tool_module_that_raises_on_import_does_not_stop_the_run(
        cli: Cli, fake_server: FakeModelServer, tmp_path: Path) -> None:
    folder = write_plugin(tmp_path / "sources" / "broken", "import json\nraise RuntimeError('no settings')\n")
    assert cli.run("plugin", "install", str(folder), "--yes").returncode == 0
    fake_server.script(text("Fine."))
    result = run(cli, fake_server, "hi", "-m", MODEL)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Fine.\n"
    assert "plugin broken (tools.py) failed on import: RuntimeError: no settings (at tools.py line 2)" \
        in result.stderr


def test_a_missing_dependency_is_named(cli: Cli, fake_server: FakeModelServer, tmp_path: Path) -> None:
    folder = write_plugin(tmp_path / "sources" / "needy", TOOLS_PY)  # imports wordlib, lists nothing
    assert cli.run("plugin", "install", str(folder), "--yes").returncode == 0
    fake_server.script(text("Fine."))
    result = run(cli, fake_server, "hi", "-m", MODEL)
    assert result.returncode == 0, result.stderr
    assert "plugin needy (tools.py): needs the module 'wordlib', which is not installed: list its package " \
           'in "dependencies" in plugin.json' in result.stderr


def entry_point_site(folder: Path) -> Path:
    """What `pip install` of a package with `[project.entry-points."nano_claude.plugins"]` leaves:
    its module and a dist-info folder whose entry_points.txt names it."""
    info = folder / "acme_nano-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-nano\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[nano_claude.plugins]\nacme = acme_nano\n")
    (folder / "acme_nano.py").write_text(ENTRY_POINT_PLUGIN)
    return folder


def test_an_entry_point_plugin_brings_a_provider_and_a_tool(
        cli: Cli, fake_server: FakeModelServer, tmp_path: Path) -> None:
    site = entry_point_site(tmp_path / "site")
    fake_server.script(tool_call("Shout", {}),
                       text("It shouted.", expect=seen_in_last_message("HELLO FROM AN ENTRY POINT")))
    result = cli.run("-p", "shout", "-m", "acme/big-model",
                     env={"PYTHONPATH": str(site), "ACME_API_KEY": "sk-acme",
                          "ACME_BASE_URL": fake_server.url + "/v1"})
    assert result.returncode == 0, result.stderr
    assert result.stdout == "It shouted.\n"
    first = fake_server.model_requests[0]
    assert first.path == "/v1/chat/completions" and first.body["model"] == "big-model"
    assert first.headers.get("authorization") == "Bearer sk-acme"


def test_a_plugin_providers_missing_key_names_its_variable(cli: Cli, tmp_path: Path) -> None:
    site = entry_point_site(tmp_path / "site")
    result = cli.run("-p", "hi", "-m", "acme/big-model", env={"PYTHONPATH": str(site)})
    assert result.returncode == 2
    assert "Acme needs an API key: set ACME_API_KEY" in result.stderr
