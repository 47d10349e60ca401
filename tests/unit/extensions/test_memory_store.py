"""The memory store: file names made from names, every way a name or a link could lead out of
the memory folder, the index and its caps, two processes saving at once, and how the permission
policy judges the memory tools."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from nano_claude.core.loop import _policy_call
from nano_claude.extensions.memory import default_scope, memory_prompt, memory_tools
from nano_claude.extensions.memory.index import MAX_BYTES, MAX_LINES, render
from nano_claude.extensions.memory.store import Memory, MemoryStore, MemoryStoreError, slug
from nano_claude.permissions.policy import Policy
from nano_claude.permissions.rules import RuleSet

DAY = 86_400.0


class Clock:
    def __init__(self, now: float = 1_750_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    return root


@pytest.fixture
def store(project: Path) -> MemoryStore:
    return MemoryStore.project(project, clock=Clock())


def folder_files(store: MemoryStore) -> list[str]:
    return sorted(p.name for p in store.folder.iterdir() if not p.name.startswith("."))


@pytest.mark.parametrize(("name", "stem"), [
    ("Prefers UV", "prefers-uv"),
    ("deploy_steps v2", "deploy_steps-v2"),
    ("  Café au lait!  ", "cafe-au-lait"),
    ("--leading and trailing--", "leading-and-trailing"),
    ("a" * 120, "a" * 80),
    ("..", ""),
    ("日本語", ""),
])
def test_a_file_name_is_lowercase_letters_digits_dashes_and_underscores(name: str, stem: str) -> None:
    assert slug(name) == stem


@pytest.mark.parametrize("name", ["../x", "../../etc/passwd", "/etc/passwd", "..\\x", "C:\\Windows\\x", "C:x",
                                  "~/notes", "a\0b", "x/../../y"])
def test_a_name_that_is_a_path_is_refused_and_its_slug_could_not_leave_the_folder(
        store: MemoryStore, name: str) -> None:
    with pytest.raises(MemoryStoreError, match="looks like a path"):
        store.save(name, "project", "d", "c")
    with pytest.raises(MemoryStoreError, match="looks like a path"):
        store.get(name)
    with pytest.raises(MemoryStoreError, match="looks like a path"):
        store.delete(name)
    assert not store.folder.exists() or folder_files(store) == []
    path = store.folder / f"{slug(name)}.md"  # even unchecked, the slug keeps to the folder
    assert path.parent == store.folder and path.resolve().parent == store.folder.resolve()
    assert set(slug(name)) <= set("abcdefghijklmnopqrstuvwxyz0123456789-_")


@pytest.mark.parametrize("name", ["...", "日本語", "   ", "!!!"])
def test_a_name_with_nothing_to_make_a_file_name_of_is_refused(store: MemoryStore, name: str) -> None:
    with pytest.raises(MemoryStoreError, match=r"no letters or digits|needs a name"):
        store.save(name, "user", "d", "c")


def test_the_index_name_and_a_multiline_name_are_refused(store: MemoryStore) -> None:
    with pytest.raises(MemoryStoreError, match=r"share its file with the index MEMORY\.md"):
        store.save("Memory", "user", "d", "c")
    with pytest.raises(MemoryStoreError, match="one line"):
        store.save("two\nlines", "user", "d", "c")
    with pytest.raises(MemoryStoreError, match="Unknown memory type 'note'"):
        store.save("fine", "note", "d", "c")


def test_a_memory_folder_that_is_a_link_out_is_refused(project: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (project / ".nano_claude").mkdir()
    (project / ".nano_claude" / "memory").symlink_to(outside, target_is_directory=True)
    store = MemoryStore.project(project)
    with pytest.raises(MemoryStoreError, match=r"is a symbolic link .*memories are kept only in a real"):
        store.save("x", "project", "d", "c")
    with pytest.raises(MemoryStoreError, match="symbolic link"):
        store.list()
    assert list(outside.iterdir()) == []
    text, notes = memory_prompt(tmp_path / "home", project)
    assert text is None and len(notes) == 1 and "symbolic link" in notes[0]


def test_a_user_memory_folder_that_is_a_link_is_refused_too(tmp_path: Path) -> None:
    home, elsewhere = tmp_path / "home", tmp_path / "elsewhere"
    home.mkdir()
    elsewhere.mkdir()
    (home / "memory").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(MemoryStoreError, match="symbolic link"):
        MemoryStore.user(home).save("x", "user", "d", "c")
    assert list(elsewhere.iterdir()) == []


def test_a_project_data_folder_linked_outside_the_project_is_refused(project: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (project / ".nano_claude").symlink_to(outside, target_is_directory=True)
    with pytest.raises(MemoryStoreError, match=r"outside .*a project's memories stay inside the project"):
        MemoryStore.project(project).save("x", "project", "d", "c")
    assert list(outside.iterdir()) == []


def test_a_memory_file_that_is_a_link_is_neither_written_through_nor_read(store: MemoryStore,
                                                                           tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("---\nname: x\ndescription: d\ntype: user\n---\nthe secret\n")
    store.save("other", "project", "d", "c")
    (store.folder / "x.md").symlink_to(secret)
    with pytest.raises(MemoryStoreError, match="is a symbolic link: a memory is never read or written"):
        store.save("x", "project", "d", "overwritten")
    assert secret.read_text().endswith("the secret\n")
    listing = store.list()
    assert [m.name for m in listing.memories] == ["other"]
    assert [b.path.name for b in listing.broken] == ["x.md"]
    with pytest.raises(MemoryStoreError, match="symbolic link"):
        store.get("x")
    assert "secret" not in store.index_path.read_text()


def test_a_link_named_like_the_index_is_not_written_through(store: MemoryStore, tmp_path: Path) -> None:
    target = tmp_path / "target.txt"
    target.write_text("keep me")
    store.folder.mkdir(parents=True)
    store.index_path.symlink_to(target)
    with pytest.raises(MemoryStoreError, match="symbolic link"):
        store.save("x", "project", "d", "c")
    assert target.read_text() == "keep me"


def test_save_writes_front_matter_and_the_index_and_an_update_keeps_created(project: Path) -> None:
    clock = Clock()
    store = MemoryStore.project(project, clock=clock)
    saved = store.save("Deploy steps", "project", "How we deploy: make release", "Run `make release`.\n")
    assert saved.created and saved.count == 1
    path = project / ".nano_claude" / "memory" / "deploy-steps.md"
    assert saved.memory.path == path
    first = store.get("deploy steps")
    assert first is not None and first.content == "Run `make release`."
    assert (first.type, first.description, first.created) == ("project", "How we deploy: make release",
                                                               "2025-06-15T15:06:40Z")
    clock.now += 3600
    again = store.save("Deploy steps", "reference", "Now in the wiki", "See the wiki.")
    assert not again.created
    memory = store.get("Deploy steps")
    assert memory is not None
    assert (memory.created, memory.updated, memory.type) == ("2025-06-15T15:06:40Z", "2025-06-15T16:06:40Z",
                                                             "reference")
    assert path.read_text().startswith("---\nname: Deploy steps\ndescription: Now in the wiki\n"
                                       "type: reference\n")
    assert store.index_path.read_text() == "- [Deploy steps](deploy-steps.md) (reference) — Now in the wiki\n"
    assert (project / ".nano_claude" / "memory" / ".gitignore").read_text() == ".lock\n"


def test_the_index_lists_newest_first_and_goes_with_the_last_memory(project: Path) -> None:
    clock = Clock()
    store = MemoryStore.project(project, clock=clock)
    for name in ("alpha", "beta", "gamma"):
        store.save(name, "project", f"about {name}", "c")
        clock.now += 60
    store.save("alpha", "project", "alpha again", "c")  # updated: newest now
    assert store.index_path.read_text().splitlines() == [
        "- [alpha](alpha.md) (project) — alpha again",
        "- [gamma](gamma.md) (project) — about gamma",
        "- [beta](beta.md) (project) — about beta",
    ]
    for name in ("alpha", "beta"):
        store.delete(name)
    assert store.index_path.read_text() == "- [gamma](gamma.md) (project) — about gamma\n"
    with pytest.raises(MemoryStoreError, match=r"No project memory is named 'beta'\. Its memories: 'gamma'"):
        store.delete("beta")
    store.delete("gamma")
    assert not store.index_path.exists() and folder_files(store) == []


def test_a_hand_written_memory_with_unquoted_times_reads(store: MemoryStore) -> None:
    store.folder.mkdir(parents=True)
    (store.folder / "by-hand.md").write_text("---\nname: by hand\ndescription: written: by a person\n"
                                             "type: feedback\ncreated: 2025-01-02T03:04:05Z\n---\nbody\n")
    memory = store.get("by hand")
    assert memory is not None and (memory.created, memory.updated) == ("2025-01-02T03:04:05Z",) * 2
    assert memory.description == "written: by a person"
    (store.folder / "bad.md").write_text("---\nname: bad\ntype: diary\n---\n")
    assert [b.path.name for b in store.list().broken] == ["bad.md"]
    assert "type is 'diary'" in store.list().broken[0].problem


def memories(count: int, description: str = "about it") -> list[Memory]:
    return [Memory(f"memory {n}", description, "project", "c", "2025-01-01T00:00:00Z", "2025-01-01T00:00:00Z",
                   "project", Path(f"/m/memory-{n}.md")) for n in range(count)]


def test_the_index_keeps_200_lines_and_summarises_the_oldest() -> None:
    text = render(memories(250))
    lines = text.splitlines()
    assert len(lines) == MAX_LINES
    assert lines[0] == "- [memory 0](memory-0.md) (project) — about it"
    assert lines[-2].startswith("- [memory 198]")
    assert lines[-1].startswith("- … and 51 older memories (MemorySearch finds them): memory 199, memory 200")
    assert lines[-1].endswith("memory 249")


def test_the_index_keeps_25_kb_and_cuts_the_summary_to_fit() -> None:
    text = render(memories(190, "x" * 180))
    lines = text.splitlines()
    assert len(text.encode()) <= MAX_BYTES
    assert len(lines) < 190
    summary = lines[-1]
    older = 190 - (len(lines) - 1)
    assert summary.startswith(f"- … and {older} older memories (MemorySearch finds them): "
                              f"memory {len(lines) - 1}")
    assert lines[-2].startswith(f"- [memory {len(lines) - 2}]")
    many = render(memories(3000))
    assert len(many.encode()) <= MAX_BYTES and len(many.splitlines()) == MAX_LINES
    assert many.splitlines()[-1].endswith(" more")  # the names that did not fit are counted


def test_a_long_description_is_cut_in_its_line() -> None:
    line = render(memories(1, "y" * 500)).strip()
    assert line.endswith("y…") and len(line) < 260


SAVE_20 = """
import sys
from pathlib import Path
from nano_claude.extensions.memory.store import MemoryStore
store = MemoryStore.project(Path(sys.argv[1]))
sys.stdin.readline()  # both processes start together
for n in range(20):
    store.save(f"{sys.argv[2]} {n}", "project", f"saved by {sys.argv[2]}", f"note {n}")
"""


def test_two_processes_saving_20_memories_each_lose_none(project: Path) -> None:
    procs = [subprocess.Popen([sys.executable, "-c", SAVE_20, str(project), side], stdin=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for side in ("left", "right")]
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
    store = MemoryStore.project(project)
    names = {m.name for m in store.list().memories}
    assert names == {f"{side} {n}" for side in ("left", "right") for n in range(20)}
    index = store.index_path.read_text().splitlines()
    assert len(index) == 40 and {line.split("]")[0][3:] for line in index} == names
    assert not [p for p in store.folder.iterdir() if p.name.endswith(".tmp") or ".md." in p.name]


def test_the_prompt_holds_both_indexes_user_first(tmp_path: Path, project: Path) -> None:
    home = tmp_path / "home"
    assert memory_prompt(home, project) == (None, [])
    MemoryStore.project(project).save("build", "project", "make build", "c")
    MemoryStore.user(home).save("terse", "feedback", "answers short", "c")
    text, notes = memory_prompt(home, project)
    assert notes == [] and text is not None and text.startswith("# Memory\n")
    user = text.index(f"## User memory (for every project): {home / 'memory'}/\n\n- [terse](terse.md)")
    assert user < text.index(f"## Project memory (this project's): {project / '.nano_claude' / 'memory'}/")
    assert text.endswith("- [build](build.md) (project) — make build")


def test_the_default_scope_follows_the_type() -> None:
    assert [default_scope(t) for t in ("user", "feedback", "project", "reference")] == \
        ["user", "user", "project", "project"]


@pytest.mark.parametrize(("mode", "writes", "reads"), [
    ("auto", "allow", "allow"), ("plan", "deny", "allow"), ("manual", "ask", "ask"),
    ("accept-all", "allow", "allow"),
])
def test_memory_writes_run_unasked_in_auto_mode_and_are_refused_in_plan_mode(
        tmp_path: Path, mode: str, writes: str, reads: str) -> None:
    policy = Policy(mode, RuleSet(), tmp_path, tmp_path)  # type: ignore[arg-type]
    tools = {tool.name: tool for tool in memory_tools()}
    save_args = tools["MemorySave"].input_model(name="n", type="user", description="d", content="c")
    delete_args = tools["MemoryDelete"].input_model(name="n")
    search_args = tools["MemorySearch"].input_model(query="q")
    assert policy.judge(_policy_call(tools["MemorySave"], save_args)).decision == writes
    assert policy.judge(_policy_call(tools["MemoryDelete"], delete_args)).decision == writes
    assert policy.judge(_policy_call(tools["MemorySearch"], search_args)).decision == reads
    list_args = tools["MemoryList"].input_model()
    assert policy.judge(_policy_call(tools["MemoryList"], list_args)).decision == reads


def test_a_deny_rule_on_memory_save_still_wins(tmp_path: Path) -> None:
    from nano_claude.permissions.rules import parse_rule

    rules = RuleSet([parse_rule("MemorySave", "deny", "test")])
    policy = Policy("auto", rules, tmp_path, tmp_path)
    tool = next(t for t in memory_tools() if t.name == "MemorySave")
    args = tool.input_model(name="n", type="user", description="d", content="c")
    assert policy.judge(_policy_call(tool, args)).decision == "deny"


def test_after_an_edit_the_memory_is_stamped_and_a_broken_one_is_reported_and_kept(project: Path) -> None:
    clock = Clock()
    store = MemoryStore.project(project, clock=clock)
    store.save("steps", "project", "d", "one")
    store.save("other", "project", "d", "c")
    before = store.get("steps")
    assert before is not None
    clock.now += 60
    assert store.touch(before.path, before).updated == before.updated  # nothing changed: not stamped
    before.path.write_text(before.path.read_text() + "two\n")
    after = store.touch(before.path, before)
    assert after.content == "one\ntwo" and after.updated == "2025-06-15T15:07:40Z"
    assert store.index_path.read_text().splitlines()[0].startswith("- [steps](steps.md)")  # newest now
    broken = "---\nname: steps\ntype: [unclosed\n---\none\n"
    before.path.write_text(broken)
    with pytest.raises(MemoryStoreError, match="not valid YAML"):
        store.touch(before.path, after)
    assert before.path.read_text() == broken
    assert store.index_path.read_text() == "- [other](other.md) (project) — d\n"


def test_an_edit_that_renames_a_memory_moves_its_file(store: MemoryStore) -> None:
    store.save("old name", "user", "d", "c")
    path = store.folder / "old-name.md"
    path.write_text(path.read_text().replace("name: old name", "name: New Name"))
    moved = store.touch(path)
    assert moved.path == store.folder / "new-name.md" and not path.exists()
    assert store.index_path.read_text() == "- [New Name](new-name.md) (user) — d\n"
