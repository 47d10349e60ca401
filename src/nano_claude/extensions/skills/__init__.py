"""Skills and custom commands: Markdown instructions the user runs as /NAME and the model runs
with the Skill tool, in our format and in Claude Code's.

    loader.py      where they are and what a file says (front matter, precedence)
    substitute.py  $ARGUMENTS, $0, $name, ${CLAUDE_SKILL_DIR} ... in a body
    run.py         running one: `!` commands under the policy, @path files, the turn's
                   allowed tools and model, or a sub-agent for `context: fork`
    catalog.py     the session's skills, attached to its agent
    listing.py     the system prompt's list of names and descriptions, and usage counts
    tools.py       the Skill and SkillList tools
    builtin/       /commit and /review
"""
