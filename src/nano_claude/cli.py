"""Command line: arguments -> one of --version, doctor, a headless run (or the REPL).

Imports nothing heavy at module level: `nano_claude --version` must answer at once.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from nano_claude import __version__

if TYPE_CHECKING:
    from nano_claude.config import Paths, Settings
    from nano_claude.core.loop import Agent
    from nano_claude.core.prompter import Prompter
    from nano_claude.permissions.rules import RuleSet

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

EPILOG = """\
models: name one as provider/model or provider:model (anthropic, openai, gemini, kimi,
  qwen, zhipu, deepseek, ollama, lmstudio, custom, local), or by prefix: claude-, gpt-,
  o1/o3/o4, gemini-, kimi-/moonshot-, qwen/qwq-, glm-, deepseek-,
  llama/mistral/phi/gemma/mixtral/codellama (Ollama).

examples:
  nano_claude -p "explain this repo" -m claude-sonnet-4-6
  cat err.log | nano_claude -p "what is wrong?"
  nano_claude -p "add a test" --accept-all --output-format json
  nano_claude -p "hello" -m local/smollm2        # embedded model: no key, no network
  nano_claude models pull qwen3-4b               # a capable embedded model, pulled once (2.5 GB)
  nano_claude doctor                             # check every configured provider

sessions (saved in ~/.nano_claude/sessions/ as they happen):
  nano_claude -c                      continue the latest session in this directory
  nano_claude -p "go on" --resume ID  continue session ID (or a unique start of it)
  nano_claude sessions list           every saved session
  nano_claude sessions search TEXT    search them all

MCP servers (.mcp.json, ~/.nano_claude/mcp.json, and Claude Code's ~/.claude.json):
  nano_claude mcp list                every server, where it is configured, and its health
  nano_claude mcp add NAME -- CMD ARGS  add a stdio server (--transport http NAME URL: a remote one)
  nano_claude mcp --help              get, add-json, remove, login

plugins (skills, commands, agents, hooks, MCP servers, Python tools; Claude Code's too):
  nano_claude plugin install NAME@SOURCE  from a folder, a git URL (#ref), owner/repo or a marketplace
  nano_claude plugin list             installed plugins; recommend: ones that suit this project
  nano_claude plugin --help           info, enable, disable, update, uninstall, validate, marketplace

embedded models (run in-process by llama.cpp; files in the Hugging Face Hub's cache):
  nano_claude models                  the shipped SmolLM2 and the curated models, downloaded or not
  nano_claude models pull NAME        download one (resumable, sha256-checked); rm NAME removes it
  -m local/hf:OWNER/REPO/FILE.gguf    any GGUF on the Hub (pulled the same way)
  -m local/path:/abs/file.gguf        any GGUF on disk

permission rules:
  nano_claude permissions             the rules in force and where each comes from
  nano_claude permissions why "CMD"   allow, ask or deny for a shell command, and why

exit codes: 0 success, 1 the run failed, 2 bad usage or configuration.
"""


def _duration(text: str) -> float:
    from nano_claude.core.schedule import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="nano_claude",
        description="A terminal coding agent that works with any model.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("prompt", nargs="?", help="the task; piped standard input is appended to it")
    p.add_argument("-p", "--print", action="store_true", dest="print_mode",
                   help="headless: run the prompt, print the answer and exit")
    p.add_argument("-m", "--model", help="model to use (see 'models' below)")
    p.add_argument("--accept-all", action="store_true",
                   help="run every tool call without asking (short for --permission-mode accept-all)")
    p.add_argument("--permission-mode", choices=("auto", "accept-all", "manual", "plan"),
                   help="auto (default): reads run, writes and commands ask unless a rule allows; "
                        "accept-all; manual: everything asks; plan: read-only")
    p.add_argument("--allowedTools", "--allowed-tools", action="append", metavar="RULES",
                   dest="allowed_tools",
                   help="allow rules for this run, comma- or space-separated: "
                        "\"Bash(git diff:*),Edit(src/**)\"")
    p.add_argument("--disallowedTools", "--disallowed-tools", action="append", metavar="RULES",
                   dest="disallowed_tools", help="deny rules for this run, in the same syntax")
    p.add_argument("--add-dir", action="append", metavar="DIR", dest="add_dirs",
                   help="treat DIR like the project (reads run; writes judged by Edit rules)")
    p.add_argument("--sandbox", action=argparse.BooleanOptionalAction, default=None,
                   help="run shell commands in a bubblewrap sandbox: project writable, the rest "
                        "read-only, no network (default: setting sandbox)")
    p.add_argument("--max-turns", type=_positive, metavar="N",
                   help="stop after N model requests (default: setting max_turns, 100)")
    p.add_argument("--proactive", type=_duration, metavar="DURATION",
                   help="wake the agent after DURATION (30s, 5m, 1h) without activity, to carry on "
                        "watching or working; with -p the run waits for these wake-ups")
    p.add_argument("--max-wakeups", type=_positive, metavar="N",
                   help="with --proactive: stop after N wake-ups (default: until --max-turns)")
    p.add_argument("--verbose", action="store_true",
                   help="show tool calls, thinking and token counts (on stderr)")
    p.add_argument("--thinking", action="store_true",
                   help="ask the model to think first (Claude extended thinking, Gemini, "
                        "DeepSeek, Ollama think)")
    p.add_argument("--output-format", choices=("text", "json", "stream-json"), default=None,
                   help="with -p: text (default), json (one result object) or stream-json "
                        "(one JSON event per line)")
    p.add_argument("--include-partial-messages", action="store_true",
                   help="with --output-format stream-json: also emit text deltas as they stream")
    resume = p.add_mutually_exclusive_group()
    resume.add_argument("-c", "--continue", action="store_true", dest="continue_session",
                        help="continue the latest session saved in this directory (REPL or -p)")
    resume.add_argument("--resume", metavar="ID",
                        help="continue the saved session ID, or the one whose id starts with ID")
    p.add_argument("--mcp-config", action="append", metavar="FILE_OR_JSON", dest="mcp_configs",
                   help="MCP servers for this run: a JSON file or inline JSON with \"mcpServers\" "
                        "(repeatable)")
    p.add_argument("--strict-mcp-config", action="store_true",
                   help="use only the servers --mcp-config gives, none from the config files")
    p.add_argument("--agents", metavar="JSON",
                   help="sub-agent types for this run, as Claude Code takes them: "
                        "'{\"NAME\": {\"description\": \"...\", \"prompt\": \"...\", \"tools\": [...]}}'")
    p.add_argument("--plugin-dir", action="append", metavar="PATH", dest="plugin_dirs",
                   help="use the plugin in this folder for this run, as if installed (repeatable)")
    p.add_argument("--system-prompt", metavar="TEXT", help="replace the built-in system prompt")
    p.add_argument("--append-system-prompt", metavar="TEXT",
                   help="add TEXT to the end of the system prompt")
    p.add_argument("--version", action="version", version=f"nano_claude {__version__}")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["doctor"]:
        from nano_claude.doctor import main as doctor_main

        return doctor_main(argv[1:])
    if argv[:1] == ["permissions"]:
        return _permissions(argv[1:])
    if argv[:1] == ["sessions"]:
        from nano_claude.sessions.command import main as sessions_main

        return sessions_main(argv[1:])
    if argv[:1] == ["mcp"]:
        from nano_claude.extensions.mcp.command import main as mcp_main

        return mcp_main(argv[1:])
    if argv[:1] == ["plugin"] or argv[:1] == ["plugins"]:
        from nano_claude.extensions.plugins.command import main as plugin_main

        return plugin_main(argv[1:])
    if argv[:1] == ["models"]:
        from nano_claude.providers.models_command import main as models_main

        return models_main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.output_format and not args.print_mode:
        parser.error("--output-format works with -p/--print")
    if args.max_wakeups and not args.proactive:
        parser.error("--max-wakeups works with --proactive: --proactive 5m --max-wakeups 3")
    if not args.print_mode:
        return _interactive(args)
    return _headless(args, parser)


def _permissions(argv: list[str]) -> int:
    """`nano_claude permissions [list | why COMMAND]`: the rules in force, and the decision
    for a shell command with the rule that made it."""
    from nano_claude.config import user_home
    from nano_claude.core.errors import NanoClaudeError
    from nano_claude.permissions.policy import Policy

    p = argparse.ArgumentParser(prog="nano_claude permissions",
                                description="Show permission rules, or why a command would run or ask.")
    p.add_argument("action", choices=("list", "why"), nargs="?", default="list")
    p.add_argument("command", nargs=argparse.REMAINDER, help="with why: the shell command")
    p.add_argument("--permission-mode", choices=("auto", "accept-all", "manual", "plan"))
    args = p.parse_args(argv)
    environ, cwd = dict(os.environ), Path.cwd()
    try:
        paths, settings, rules = _configuration(environ, cwd, {"permission_mode": args.permission_mode})
    except NanoClaudeError as exc:
        print(f"nano_claude: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.action == "why":
        if not args.command:
            p.error('why needs a command: nano_claude permissions why "git push --force"')
        policy = Policy(settings.permission_mode, rules, cwd, user_home(environ))
        ruling = policy.judge_command(" ".join(args.command))
        print(f"{ruling.decision}: {ruling.reason}")
        if ruling.rule:
            print(f"rule: {ruling.rule}")
        if ruling.suggestions:
            print(f"to allow it: {' '.join(ruling.suggestions)}")
        return EXIT_OK
    print(f"mode: {settings.permission_mode}")
    for kind in ("deny", "ask", "allow"):
        for rule in (r for r in rules.rules if r.kind == kind):
            print(f"{kind:5}  {rule}  ({rule.source})")
    for extra in rules.extra_dirs:
        print(f"dir    {extra}")
    if not rules.rules:
        print(f"no rules; add them to {paths.user_settings} or {paths.project_local}")
    return EXIT_OK


def _configuration(environ: dict[str, str], cwd: Path,
                   overrides: dict[str, object]) -> tuple[Paths, Settings, RuleSet]:
    """Settings and permission rules from every file, the warnings about them on stderr."""
    from nano_claude.config import Paths, load_settings
    from nano_claude.permissions.rules import load_rules

    paths = Paths.from_env(environ, cwd)
    settings = load_settings(paths, environ, overrides)
    rules, warnings = load_rules(paths)
    for warning in warnings:
        print(f"nano_claude: {warning}", file=sys.stderr)
    return paths, settings, rules


def _read_stdin() -> str:
    if sys.stdin is None or sys.stdin.isatty():
        return ""
    try:
        return sys.stdin.read()
    except (OSError, UnicodeDecodeError):
        return ""


def _headless(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from nano_claude.core.errors import NanoClaudeError, UsageError

    piped = _read_stdin()
    prompt = "\n\n".join(part for part in (args.prompt, piped.strip()) if part)
    if not prompt.strip():
        parser.error('-p needs a prompt: nano_claude -p "PROMPT" (or pipe text in)')
    import asyncio

    try:
        return _run(args, prompt)
    except BrokenPipeError:  # `nano_claude -p ... | head`: the reader left; so do we
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except asyncio.CancelledError:  # SIGTERM / SIGHUP
        print("nano_claude: terminated", file=sys.stderr)
        return 143
    except UsageError as exc:
        print(f"nano_claude: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except NanoClaudeError as exc:
        print(f"nano_claude: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("nano_claude: interrupted", file=sys.stderr)
        return 130


def build(args: argparse.Namespace, prompter: Prompter, environ: dict[str, str],
          cwd: Path, *, unconfigured_ok: bool = False) -> tuple[Agent, Paths, Settings]:
    """The agent the flags and settings describe (headless and the REPL alike; the REPL
    opens without a key, to let the user set one)."""
    from nano_claude.assemble import build_agent
    from nano_claude.permissions.rules import split_rules

    overrides = {"verbose": args.verbose or None, "thinking": args.thinking or None,
                 "sandbox": args.sandbox,
                 "permission_mode": "accept-all" if args.accept_all else args.permission_mode}
    paths, settings, rules = _configuration(environ, cwd, overrides)
    for flag, kind, values in (("--allowedTools", "allow", args.allowed_tools),
                               ("--disallowedTools", "deny", args.disallowed_tools)):
        for value in values or ():
            rules.add(split_rules(value), kind, flag)
    agent = build_agent(
        settings, model=args.model, cwd=cwd, environ=environ, prompter=prompter,
        rules=rules, paths=paths, add_dirs=[Path(d) for d in args.add_dirs or ()],
        max_turns=args.max_turns, system_prompt=args.system_prompt,
        append_system_prompt=args.append_system_prompt, unconfigured_ok=unconfigured_ok,
        mcp_configs=tuple(args.mcp_configs or ()), strict_mcp_config=args.strict_mcp_config,
        accept_all_flag=args.accept_all or args.permission_mode == "accept-all",
        agents_json=args.agents,
        plugin_dirs=tuple(Path(d).expanduser().resolve() for d in args.plugin_dirs or ()),
    )
    # A bare tool name given to --disallowedTools takes the tool out of the model's view, as
    # in Claude Code; a pattern (`Bash(rm:*)`) only denies the calls it matches.
    for value in args.disallowed_tools or ():
        for rule in split_rules(value):
            agent.tools.remove(rule)
    if args.proactive:
        agent.schedule.proactive(args.proactive, args.max_wakeups)
    return agent, paths, settings


def _interactive(args: argparse.Namespace) -> int:
    import functools

    from nano_claude.core.errors import NanoClaudeError
    from nano_claude.ui.repl import run_repl

    try:
        return run_repl(args, functools.partial(build, unconfigured_ok=True))
    except NanoClaudeError as exc:
        print(f"nano_claude: {exc}", file=sys.stderr)
        return EXIT_USAGE


def _run(args: argparse.Namespace, prompt: str) -> int:
    from nano_claude import headless
    from nano_claude.core.prompter import HeadlessPrompter
    from nano_claude.sessions.store import SessionStore

    environ = dict(os.environ)
    cwd = Path.cwd()
    agent, paths, settings = build(args, HeadlessPrompter(), environ, cwd)
    for note in agent.notes:
        print(f"nano_claude: {note}", file=sys.stderr)
    store = SessionStore.of(paths.home, settings)
    loaded = store.open(cwd, resume=args.resume, latest_here=args.continue_session)
    session_id = loaded.session.id
    agent.ctx.output_dir = store.root / "tool-output" / session_id
    fmt = args.output_format or "text"
    writer: headless.TextWriter | headless.JsonWriter | headless.StreamJsonWriter
    if fmt == "json":
        writer = headless.JsonWriter(sys.stdout, sys.stderr)
    elif fmt == "stream-json":
        writer = headless.StreamJsonWriter(sys.stdout, session_id, agent.model.qualified,
                                           args.include_partial_messages)
        writer.start(str(cwd), agent.tools.names, agent.policy.mode)
    else:
        color = sys.stderr.isatty() and not environ.get("NO_COLOR") and environ.get("TERM") != "dumb"
        writer = headless.TextWriter(sys.stdout, sys.stderr, verbose=settings.verbose, color=color)
    notes = (*loaded.warnings, *loaded.notes)
    outcome = headless.run_sync(agent, prompt, writer, loaded.session, store, notes,
                                typed=args.prompt or prompt)  # @path in piped text is not a mention
    return EXIT_OK if outcome.ok else EXIT_FAILED


if __name__ == "__main__":
    raise SystemExit(main())
