"""Hooks: commands and URLs the user's settings run at fixed points of a session, with
Claude Code's contract (JSON on stdin, exit codes, JSON decisions on stdout) so hook
scripts written for Claude Code work unchanged.

config.py reads them (stdlib only: it runs at every start); runner.py runs them and is
imported only when some are configured; the loop holds the runner as `agent.hooks`.
"""
