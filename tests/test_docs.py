"""Every code example in README.md and docs/*.md holds against the code.

- ```bash blocks: each ``baton ...`` command (``\\`` continuations joined) must name a command that
  exists and only options that command has; nothing is run. A repository script a block runs
  (``python experiments/x.py``) must exist.
- ```python blocks: each compiles, every ``from baton... import X`` resolves, and every keyword given to
  a baton config or function is one it takes. Then the blocks of a page run in order in one namespace,
  in a scratch folder; a page whose blocks call ``world_dir`` gets the quick sound world as its cache's.
- A block whose previous line is ``<!-- not run: REASON -->`` (it needs a GPU, a hub download or a
  trained model) is only checked, not run.
- Every ``baton.module.name`` the prose names exists; relative links point at files that exist, and
  their ``#anchors`` at headings that exist.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
README_MAX_LINES = 150

FENCE = re.compile(r"^```(?P<lang>[\w-]*)[ \t]*\n(?P<code>.*?)^```[ \t]*$", re.S | re.M)
NOT_RUN = re.compile(r"<!--\s*not run:\s*(?P<reason>.+?)\s*-->")
SHELLS = ("bash", "sh", "shell")
SEPARATORS = {"&&", "||", ";", "|"}
NEGATIVE_NUMBER = re.compile(r"-\d[\d.e-]*")
REPO_SCRIPT = re.compile(r"(?:experiments|benchmarks|tools)/[\w/.-]+\.py")
LINK = re.compile(r"\[[^\]]*\]\((?P<target>[^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(?P<title>.+?)\s*#*\s*$", re.M)


@dataclass(frozen=True)
class Block:
    page: str
    line: int  # of the opening fence
    lang: str
    code: str
    not_run: str | None  # the reason given in a `<!-- not run: ... -->` line just above, if any

    def where(self) -> str:
        return f"{self.page}:{self.line}"


def code_blocks(text: str, page: str) -> list[Block]:
    blocks = []
    for match in FENCE.finditer(text):
        above = text[: match.start()].rstrip().rsplit("\n", 1)[-1]
        marker = NOT_RUN.search(above)
        line = text.count("\n", 0, match.start()) + 1
        blocks.append(Block(page, line, match["lang"], match["code"], marker["reason"] if marker else None))
    return blocks


def blocks_of(path: Path) -> list[Block]:
    return code_blocks(path.read_text(), str(path.relative_to(REPO)))


# --- bash: the commands and their options ---------------------------------------------------------


def shell_commands(code: str) -> list[list[str]]:
    """The words of every simple command in a shell block, comments dropped, continuations joined."""
    commands = []
    for line in re.sub(r"\\\n", " ", code).splitlines():
        words: list[str] = []
        for word in [*shlex.split(line, comments=True), ";"]:
            if word in SEPARATORS:
                if words:
                    commands.append(words)
                words = []
            else:
                words.append(word)
    return commands


def baton_arguments(words: list[str]) -> list[str] | None:
    """What follows ``baton`` in a command (``accelerate launch ... -m baton generate ...`` too)."""
    for i, word in enumerate(words):
        if word == "baton" or word.endswith("/baton"):
            return words[i + 1 :]
    return None


def baton_cli():
    import typer.main

    from baton.cli import build_app

    return typer.main.get_command(build_app())


def command_problems(arguments: list[str], root) -> list[str]:
    """Why ``baton <arguments>`` names a command or an option that does not exist (none: it is fine)."""
    command, path, rest = root, ["baton"], list(arguments)
    while hasattr(command, "commands") and rest and not rest[0].startswith("-") and rest[0] != "...":
        name = rest.pop(0)
        if name not in command.commands:
            known = ", ".join(sorted(command.commands))
            return [f"`{' '.join(path)} {name}`: no such command (there are: {known})"]
        command = command.commands[name]
        path.append(name)
    options = {"-h", "--help"} | {o for p in command.params for o in (*p.opts, *p.secondary_opts)}
    problems = []
    for word in rest:
        if not word.startswith("-") or word in ("-", "--") or NEGATIVE_NUMBER.fullmatch(word):
            continue
        flag = word.split("=", 1)[0]
        if flag not in options:
            problems.append(f"`{' '.join(path)}` has no option {flag}")
    return problems


def bash_problems(block: Block, root) -> list[str]:
    problems = []
    for words in shell_commands(block.code):
        arguments = baton_arguments(words)
        if arguments is not None:
            problems += [f"{block.where()}: {p}" for p in command_problems(arguments, root)]
        for word in words:
            if REPO_SCRIPT.fullmatch(word) and not (REPO / word).is_file():
                problems.append(f"{block.where()}: {word} is not in the repository")
    return problems


# --- python: imports and keywords -----------------------------------------------------------------


def accepted_keywords(target) -> set[str] | None:
    """The keywords a config dataclass or a function takes; None when it takes any (or cannot say)."""
    if dataclasses.is_dataclass(target) and isinstance(target, type):
        return {f.name for f in dataclasses.fields(target) if f.init}
    try:
        parameters = inspect.signature(target).parameters.values()
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    return {p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def python_problems(block: Block) -> list[str]:
    try:
        tree = ast.parse(block.code, filename=block.where())
    except SyntaxError as exc:
        return [f"{block.where()}: does not compile: {exc}"]
    problems, imported = [], {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "baton":
            try:
                module = importlib.import_module(node.module)
            except ImportError as exc:
                problems.append(f"{block.where()}: from {node.module} import ...: {exc}")
                continue
            for alias in node.names:
                try:
                    imported[alias.asname or alias.name] = getattr(module, alias.name)
                except AttributeError:
                    problems.append(f"{block.where()}: {node.module} has no {alias.name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "baton":
                    try:
                        importlib.import_module(alias.name)
                    except ImportError as exc:
                        problems.append(f"{block.where()}: import {alias.name}: {exc}")
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.keywords:
            continue
        func, target, name = node.func, None, None
        if isinstance(func, ast.Name) and func.id in imported:
            target, name = imported[func.id], func.id
        elif isinstance(func, ast.Attribute) and getattr(func.value, "id", None) in imported:
            target, name = getattr(imported[func.value.id], func.attr, None), f"{func.value.id}.{func.attr}"
            if target is None:
                problems.append(f"{block.where()}: {func.value.id} has no {func.attr}")
                continue
        accepted = None if target is None else accepted_keywords(target)
        for keyword in node.keywords:
            if accepted is not None and keyword.arg is not None and keyword.arg not in accepted:
                problems.append(f"{block.where()}: {name}() takes no keyword {keyword.arg}")
    return problems


# --- module paths in the prose ---------------------------------------------------------------------

MODULE_PATH = re.compile(r"\b(baton(?:\.\w+)+)")


def resolves(dotted: str) -> bool:
    """``baton.a.b.c``: the longest importable module, then attributes for the rest."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            if not hasattr(target, name):
                return False
            target = getattr(target, name)
        return True
    return False


def module_path_problems(path: Path) -> list[str]:
    missing = sorted(d for d in set(MODULE_PATH.findall(path.read_text())) if not resolves(d))
    return [f"{path.relative_to(REPO)}: {dotted} does not exist" for dotted in missing]


# --- links ----------------------------------------------------------------------------------------


def slug(title: str) -> str:
    """A heading's anchor as GitHub makes it."""
    return re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")


def anchors(text: str) -> set[str]:
    return {slug(m["title"]) for m in HEADING.finditer(FENCE.sub("", text))}


def link_problems(path: Path) -> list[str]:
    problems = []
    for match in LINK.finditer(FENCE.sub("", path.read_text())):
        target = match["target"]
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        file, _, anchor = target.partition("#")
        linked = (path.parent / file).resolve() if file else path
        name = path.relative_to(REPO)
        if not linked.exists():
            problems.append(f"{name}: link to {target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked.read_text()):
            problems.append(f"{name}: link to {target}: no such heading")
    return problems


# --- the checkers themselves, on small made-up pages ----------------------------------------------

SYNTHETIC = """Some text.

```bash
baton prompts --vocab world --task temporal \\
    --n 5 --no-such-flag 3 --out p.jsonl   # a comment --not-a-flag
accelerate launch --multi_gpu -m baton generate --prompts p.jsonl --out gen && baton reward train --labels l.jsonl
baton annotate no-such-command --db x
```

<!-- not run: needs a GPU -->
```python
from baton.prompts import PromptsConfig, NoSuchName

PromptsConfig(vocab="world", no_such_field=1)
```
"""


def test_the_checker_finds_a_flag_or_command_that_does_not_exist():
    bash, python = code_blocks(SYNTHETIC, "page.md")
    assert (bash.lang, bash.line, bash.not_run) == ("bash", 3, None)
    assert python.not_run == "needs a GPU"
    problems = bash_problems(bash, baton_cli())
    assert problems == [
        "page.md:3: `baton prompts` has no option --no-such-flag",
        "page.md:3: `baton annotate no-such-command`: no such command (there are: add-annotator, export, "
        "gold, import, mos, serve, simulate)",
    ]


def test_the_checker_passes_real_flags_and_commands():
    page = "```bash\nbaton reward train --labels l.jsonl --lr=0.1 -h\nbaton --version\nbaton data export x --no-votes\n```\n"
    assert bash_problems(code_blocks(page, "p.md")[0], baton_cli()) == []


def test_the_checker_finds_a_missing_import_or_keyword():
    python = code_blocks(SYNTHETIC, "page.md")[1]
    assert python_problems(python) == [
        "page.md:11: baton.prompts has no NoSuchName",
        "page.md:11: PromptsConfig() takes no keyword no_such_field",
    ]


def test_the_checker_finds_a_module_path_that_does_not_exist():
    assert resolves("baton.world.corpus.render") and resolves("baton.artifacts")
    assert not resolves("baton.world.no_such_module") and not resolves("baton.artifacts.NoSuchRecord")


def test_links_and_anchors_are_github_s():
    assert slug("Output: `OUT/audio/` and `OUT/samples.jsonl`") == "output-outaudio-and-outsamplesjsonl"
    assert slug("Other tools' files") == "other-tools-files"


# --- the real pages -------------------------------------------------------------------------------


def _ids(path: Path) -> str:
    return str(path.relative_to(REPO))


@pytest.mark.parametrize("page", PAGES, ids=_ids)
def test_every_baton_command_in_the_docs_exists_with_its_options(page):
    root = baton_cli()
    problems = [p for b in blocks_of(page) if b.lang in SHELLS for p in bash_problems(b, root)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("page", PAGES, ids=_ids)
def test_every_python_example_imports_and_calls_what_exists(page):
    problems = [p for b in blocks_of(page) if b.lang == "python" for p in python_problems(b)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("page", PAGES, ids=_ids)
def test_every_link_in_the_docs_resolves(page):
    problems = link_problems(page)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("page", PAGES, ids=_ids)
def test_every_module_path_named_in_the_docs_exists(page):
    problems = module_path_problems(page)
    assert not problems, "\n".join(problems)


def _runnable(page: Path) -> list[Block]:
    return [b for b in blocks_of(page) if b.lang == "python" and b.not_run is None]


def _needs_the_world(page: Path) -> bool:
    return any("world_dir(" in b.code for b in _runnable(page))


RUNNABLE = [
    pytest.param(page, id=_ids(page), marks=[pytest.mark.slow] if _needs_the_world(page) else [])
    for page in PAGES
    if _runnable(page)
]


@pytest.mark.parametrize("page", RUNNABLE)
def test_the_python_examples_run(page, request, tmp_path, monkeypatch):
    if _needs_the_world(page):
        # The session's quick world, seen through a cache of the test's own, so that what the
        # examples cache (encoder features) stays out of the shared one.
        cache = tmp_path / "cache"
        cache.mkdir()
        (cache / "world-quick").symlink_to(request.getfixturevalue("quick_world"), target_is_directory=True)
        monkeypatch.setenv("BATON_CACHE", str(cache))
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__docs__"}
    for block in _runnable(page):
        exec(compile(block.code, block.where(), "exec"), namespace)


def test_the_readme_is_short_and_links_every_page():
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= README_MAX_LINES
    for page in sorted((REPO / "docs").glob("*.md")):
        assert f"(docs/{page.name}" in readme, f"README.md does not link docs/{page.name}"


def test_every_stage_page_is_linked_from_the_index():
    index = (REPO / "docs" / "stages.md").read_text()
    for stage in ("prompts", "generate", "annotate", "reward", "finetune", "evaluate"):
        assert f"({stage}.md)" in index
