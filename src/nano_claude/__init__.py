"""nano-claude-code: a terminal coding agent that works with any model."""

__version__ = "0.1.0"
