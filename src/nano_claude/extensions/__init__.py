"""Extensions: MCP servers, skills, hooks, sub-agents and the rest (DESIGN.md, "How extensions attach")."""
