"""Where user and project data live. Apart from the settings model (config.py), so
the REPL can find its files before pydantic is imported."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Paths:
    """Where user and project data live. Passed in, so tests never touch the real home."""

    home: Path  # ~/.nano_claude
    project: Path  # ./.nano_claude

    @classmethod
    def from_env(cls, environ: Mapping[str, str], cwd: Path) -> Paths:
        home = environ.get("NANO_CLAUDE_HOME")
        home_path = Path(home).expanduser() if home else Path.home() / ".nano_claude"
        return cls(home_path, cwd / ".nano_claude")

    @property
    def user_config(self) -> Path:
        return self.home / "config.json"

    @property
    def user_settings(self) -> Path:
        """Claude Code's name for the user file; holds settings and permission rules."""
        return self.home / "settings.json"

    @property
    def project_settings(self) -> Path:
        """Shared with the repository: may restrict, never grant."""
        return self.project / "settings.json"

    @property
    def project_local(self) -> Path:
        """This machine's settings for the project (kept out of git): may grant."""
        return self.project / "settings.local.json"

    @property
    def files(self) -> tuple[Path, ...]:
        """Settings files, lowest precedence first."""
        return (self.user_config, self.user_settings, self.project_settings, self.project_local)

    def is_project_file(self, path: Path) -> bool:
        return path in (self.project_settings, self.project_local)
