"""Sub-agents: the types a task can be delegated to, and the runtime that runs them."""
