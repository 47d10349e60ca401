"""A skill's turn rules and sub-agents, in process (the runtime tests' strict routed model): what
a sub-agent's Skill call grants ends with the sub-agent's run, and a forked skill's grants hold
for its own sub-agent only, not for the session's shared rules that every other agent reads."""

from __future__ import annotations

import asyncio
from pathlib import Path

from nano_claude.config import Settings
from nano_claude.core.loop import Agent, Session
from nano_claude.extensions.skills.catalog import Skills
from nano_claude.extensions.skills.loader import Found, Skill
from nano_claude.extensions.skills.tools import skill_tools
from nano_claude.providers.base import Request
from tests.unit.extensions.test_agent_runtime import (
    Reply,
    Routed,
    close,
    collect,
    finished,
    make_agent,
    project,  # noqa: F401  (the fixture)
    results,
    run_of,
    say,
    spawn,
    use,
)


def user_skill(folder: Path, name: str, body: str, **more: object) -> Skill:
    return Skill(name=name, description=f"the {name} skill", body=body, source=str(folder / f"{name}.md"),
                 level="user", kind="skill", folder=folder, commands=(name,), **more)  # type: ignore[arg-type]


def with_skills(agent: Agent, *skills: Skill) -> Skills:
    attached = Skills(Found({s.name: s for s in skills}), Settings())
    agent.extensions.append(attached)
    for tool in skill_tools(attached, agent):
        agent.tools.register_tool(tool)
    return attached


async def test_what_a_sub_agents_skill_grants_ends_with_the_sub_agents_run(project: Path) -> None:  # noqa: F811
    model = Routed({
        "PARENT": [spawn("CHILD-S make the file", "s", "c1"), say("parent done")],
        "CHILD-S": [use("Skill", {"name": "toucher"}, "s1"),
                    use("Bash", {"command": "touch made.txt"}, "b1"),
                    say("made it")],
    })
    agent = make_agent(project, model)
    with_skills(agent, user_skill(project.parent, "toucher", "Touch the file.",
                                  allowed_tools=("Bash(touch:*)",)))
    try:
        await finished(asyncio.ensure_future(collect(agent, Session(), "PARENT job")), "the parent's turn")
        child = run_of(agent, "s")
        assert not results(child.session)["b1"].is_error  # the grant held while the child ran
        assert (project / "made.txt").exists()
        assert child.agent is not None
        assert child.agent.policy.turn.rules == []  # ... and ended with its run
        assert child.agent.policy.judge_command("touch other.txt").decision == "ask"
        model.verify()
    finally:
        await close(agent)


async def test_a_forked_skills_grants_hold_for_its_sub_agent_and_not_for_the_shared_session(
        project: Path) -> None:  # noqa: F811
    seen: dict[str, str] = {}
    agent: Agent

    async def while_the_fork_runs(request: Request) -> Reply:
        fork = run_of(agent, "forked").agent
        assert fork is not None
        seen["fork"] = fork.policy.judge_command("touch x.txt").decision
        seen["session"] = agent.policy.judge_command("touch x.txt").decision
        seen["shared rules"] = str(agent.policy.session.rules)
        return say("FORK-ANSWER")

    model = Routed({
        "PARENT": [use("Skill", {"name": "forked"}, "s1"), say("parent done")],
        "FORK-BODY": [while_the_fork_runs],
    })
    agent = make_agent(project, model)
    with_skills(agent, user_skill(project.parent, "forked", "FORK-BODY: touch the files.", context="fork",
                                  allowed_tools=("Bash(touch:*)",)))
    try:
        session = Session()
        await finished(asyncio.ensure_future(collect(agent, session, "PARENT job")), "the parent's turn")
        answer = results(session)["s1"]
        assert not answer.is_error and "FORK-ANSWER" in answer.text, answer.text
        assert seen == {"fork": "allow", "session": "ask", "shared rules": "[]"}
        assert agent.policy.judge_command("touch x.txt").decision == "ask"
        model.verify()
    finally:
        await close(agent)
