"""What the model gets from MCP servers, through the real CLI: a result too big for the
conversation, images for models that take them (and a note for those that do not), tools a
server adds mid-run, and tool schemas deferred behind ToolSearch."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import Cli
from tests.fakes.mcp_servers import big_text
from tests.fakes.script import text, tool_call, tool_calls
from tests.fakes.server import FakeModelServer
from tests.integration.mcp_support import (
    SECRET,
    HttpServer,
    fake,
    mcp_tools,
    remote,
    result,
    results,
    run,
    servers,
    tool_names,
)
from tests.toolkit import call


def test_a_result_over_the_limit_is_saved_and_the_model_gets_its_head_size_and_path(
        cli: Cli, fake_server: FakeModelServer, mcp_http: HttpServer) -> None:
    cli.write_config(mcp_max_output_tokens=1000)  # about 4,000 characters
    fake_server.script(tool_calls(call("mcp__web__big", {"size": 30_000}),
                                  call("mcp__web__big", {"size": 3_000})), text("done"))
    out = run(cli, fake_server, "--accept-all", "--mcp-config", servers(web=remote(mcp_http.url)))
    assert out.returncode == 0, out.stderr
    huge, small = results(fake_server.model_requests[1])
    assert not huge.is_error
    whole = big_text(30_000)
    head, _, note = huge.text.partition("\n\n[")
    assert whole.startswith(head) and 500 <= len(head) <= 4000
    assert "The result is 30,000 characters" in note and "mcp_max_output_tokens" in note
    saved = Path(re.search(r"saved in (\S+): Read it", note).group(1))
    assert saved.read_text() == whole  # all of it, to Read from
    assert saved.is_relative_to(cli.home)
    assert small.text == big_text(3_000)  # under the limit: as it is


def test_an_image_result_reaches_an_image_model_as_an_image(
        cli: Cli, fake_server: FakeModelServer, mcp_http: HttpServer) -> None:
    fake_server.script(tool_call("mcp__web__image", {}), text("a red pixel"))
    out = run(cli, fake_server, "--accept-all", "--mcp-config", servers(web=remote(mcp_http.url)))
    assert out.returncode == 0, out.stderr
    [image] = result(fake_server.model_requests[1]).images
    assert image["source"]["media_type"] == "image/png"
    assert image["source"]["data"].startswith("iVBORw0KGgo")


def test_an_image_result_is_a_note_for_a_model_without_images(
        cli: Cli, fake_server: FakeModelServer, mcp_http: HttpServer) -> None:
    fake_server.script(tool_call("mcp__web__image", {}), text("no pixels for me"))
    out = cli.run("-p", "go", "-m", "deepseek-chat", "--accept-all",
                  "--mcp-config", servers(web=remote(mcp_http.url)),
                  env={"DEEPSEEK_BASE_URL": fake_server.url + "/v1", "DEEPSEEK_API_KEY": SECRET})
    assert out.returncode == 0, out.stderr
    assert out.stdout == "no pixels for me\n"
    answer = fake_server.model_requests[1].body["messages"][-1]
    assert answer["role"] == "tool"
    content = answer["content"]
    shown = content if isinstance(content, str) else " ".join(p.get("text", "") for p in content)
    assert re.fullmatch(r"\[image: image/png, \d+ bytes; not shown, this model takes no images\]", shown)


def test_a_tool_the_server_adds_during_the_run_is_offered_from_the_next_request(
        cli: Cli, fake_server: FakeModelServer) -> None:
    fake_server.script(tool_call("mcp__fake__grow", {}), tool_call("mcp__fake__grown", {}), text("done"))
    out = run(cli, fake_server, "--accept-all", "--mcp-config", servers(fake=fake()))
    assert out.returncode == 0, out.stderr
    first, second, third = fake_server.model_requests
    assert "mcp__fake__grown" not in tool_names(first)
    assert tool_names(second) == [*tool_names(first), "mcp__fake__grown"]  # appended: the prefix holds
    assert result(second).text == "added the tool grown"
    assert (result(third).text, result(third).is_error) == ("grown works", False)


def test_deferred_tools_are_listed_by_name_and_loaded_by_tool_search_at_the_end_of_the_list(
        cli: Cli, fake_server: FakeModelServer, mcp_http: HttpServer) -> None:
    cli.write_config(mcp_defer_share=0)  # always defer
    fake_server.script(
        tool_call("ToolSearch", {"names": ["mcp__web__add", "mcp__web__echo"]}),
        tool_call("mcp__web__add", {"a": 2, "b": 3}),
        text("done"))
    out = run(cli, fake_server, "--accept-all", "--mcp-config", servers(web=remote(mcp_http.url)))
    assert out.returncode == 0, out.stderr
    first, second, third = fake_server.model_requests
    assert mcp_tools(first) == []
    search = next(t for t in first.body["tools"] if t["name"] == "ToolSearch")
    assert "- mcp__web__add: Add two numbers." in search["description"]
    assert "- mcp__web__echo: Echo the text back." in search["description"]
    assert "Loaded" in result(second).text
    before = [_without_cache_marks(t) for t in first.body["tools"]]
    after = [_without_cache_marks(t) for t in second.body["tools"]]
    assert after[:len(before)] == before  # what was there stays, in order
    assert [t["name"] for t in after[len(before):]] == ["mcp__web__add", "mcp__web__echo"]
    assert after[len(before)]["input_schema"]["required"] == ["a", "b"]
    assert tool_names(third) == tool_names(second)
    assert result(third).text == "sum: 5"


def _without_cache_marks(tool: dict) -> dict:
    return {k: v for k, v in tool.items() if k != "cache_control"}


def test_the_model_lists_and_reads_a_servers_resources(
        cli: Cli, fake_server: FakeModelServer, mcp_http: HttpServer) -> None:
    fake_server.script(tool_calls(call("ListMcpResources", {}),
                                  call("ReadMcpResource", {"server": "web", "uri": "notes://second"}),
                                  call("ReadMcpResource", {"server": "nope", "uri": "notes://first"})),
                       text("done"))
    out = run(cli, fake_server, "--mcp-config", servers(web=remote(mcp_http.url)))  # auto mode: read-only
    assert out.returncode == 0, out.stderr
    listing, read, wrong = results(fake_server.model_requests[1])
    assert listing.text.splitlines() == ["web  notes://first  first — The first note.",
                                         "web  notes://second  second — The second note."]
    assert (read.text, read.is_error) == ("the second note's text", False)
    assert wrong.is_error and wrong.text == "No MCP server 'nope'; servers: web"
