"""The package's layers: imports point down, and no two modules import each other round a circle.

Every ``import`` in ``src/baton`` counts, at module level and inside functions alike (a function-level
import hides a circle from Python's start-up, not from the design); only the imports under
``if TYPE_CHECKING:`` are left out, since they never run. Two rules:

(a) no circle of imports between modules;
(b) no import from a module to one of a higher layer (a module may import its own layer and the
    layers below it; a stage, only the stages below it).

And a third: an import inside a function says why it is there (a comment on the line above), since
an import belongs at the top of its module unless start-up time needs it where it is.

``LAYERS`` is the one place the order is written, lowest first. A module belongs to the entry that
names it most precisely (``baton.world.build`` before ``baton.world``); a module no entry names
fails the check, so that a new module takes a place on purpose.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

# Lowest first. Each layer may import itself and every layer before it.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    # 1. Ground: errors, console, settings, record formats (ours and the field's), audio, caches,
    #    workers, the shared maths. The event vocabulary and its phrasing are language data that the
    #    world, the prompts stage and the judges share, kept beside the stage that curates from them.
    (
        "ground",
        (
            "baton",  # the package itself: its version (the root alone, not what is under it)
            "baton.errors",
            "baton.console",
            "baton.config",
            "baton.artifacts",
            "baton.interchange",
            "baton.audio",
            "baton.cache",
            "baton.fingerprints",
            "baton.workers",
            "baton.tracking",
            "baton.exports",
            "baton.diffusion",
            "baton.stats",
            "baton.prompts.vocabulary",
            "baton.prompts.phrasing",
        ),
    ),
    # 2. The world's models and data: they know nothing of backends or stages.
    ("world", ("baton.world",)),
    # 3. Backends: one protocol, one module per model family.
    ("backends", ("baton.backends",)),
    # 4. Judges: what listens to a clip and says what it hears, for AI feedback (reward), the reward
    #    model's features and evaluation alike: the frozen audio-text encoders, the open-vocabulary
    #    event judge and the rules it judges by (event accuracy's), the CLAP score, the pretrained
    #    judges of real audio, the world's scorers. They live beside the stage that introduced each,
    #    and import no stage.
    (
        "judges",
        (
            "baton.reward.encoders",
            "baton.evaluation.event_judge",
            "baton.evaluation.event_accuracy",
            "baton.evaluation.clap_score",
            "baton.evaluation.pretrained",
            "baton.evaluation.scorers",
        ),
    ),
    # 5. The stages, in the order of the loop, each above the ones it uses, but for one: the reward
    #    model sits below annotation, since the labelling app's active selection trains reward heads
    #    between its rounds (baton.annotation.rounds), while the reward model reads labels as files.
    ("prompts", ("baton.prompts",)),
    ("generation", ("baton.generation",)),
    ("reward", ("baton.reward",)),
    ("annotation", ("baton.annotation",)),
    ("finetune", ("baton.finetune",)),
    ("evaluation", ("baton.evaluation",)),
    ("report", ("baton.report",)),
    # 6. Orchestration: building and assessing a world (they generate and evaluate), the demo and the
    #    command line's root.
    (
        "orchestration",
        (
            "baton.world.build",
            "baton.world.assess",
            "baton.world.cli",
            "baton.demo",
            "baton.cli",
            "baton.__main__",
        ),
    ),
)


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement of a module, wherever it stands, but those under ``if TYPE_CHECKING``."""
    found: list[ast.Import | ast.ImportFrom] = []
    pending: list[ast.AST] = [tree]
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        elif isinstance(node, ast.If) and _type_checking_only(node):
            pending.extend(node.orelse)
        else:
            pending.extend(ast.iter_child_nodes(node))
    return found


def lazy_exports(tree: ast.Module) -> dict[str, str]:
    """A package's lazily exported names (``_EXPORTS = {name: (module, attribute)}``, see
    :mod:`baton.exports`) -> the module each comes from."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "_EXPORTS" for t in node.targets):
            table = ast.literal_eval(node.value)
            return {name: where[0] for name, where in table.items()}
    return {}


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    """Module -> the modules of ``package`` it imports, for every module under ``root / package``.

    A name a package exports lazily counts as an import of the module it comes from, so that
    ``from baton.reward import RewardModel`` cannot hide an edge behind the package's ``__getattr__``.
    """
    files = {module_name(path, root): path for path in sorted((root / package).rglob("*.py"))}
    exports = {
        name: lazy_exports(ast.parse(path.read_text(encoding="utf-8")))
        for name, path in files.items()
        if path.name == "__init__.py"
    }
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        is_package = path.name == "__init__.py"
        targets: set[str] = set()
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Import):
                wanted = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:  # relative: from the module's package, up level - 1 packages
                    here = name.split(".") if is_package else name.split(".")[:-1]
                    here = here[: len(here) - node.level + 1]
                    base = ".".join([*here, base] if base else here)
                # ``from pkg import sub`` imports the module pkg.sub; ``from mod import name``, mod.
                wanted = [
                    f"{base}.{a.name}"
                    if f"{base}.{a.name}" in files
                    else exports.get(base, {}).get(a.name, base)
                    for a in node.names
                ]
            for target in wanted:
                while target and target not in files:  # import a.b.c of a module a.b
                    target = target.rpartition(".")[0]
                if target and target != name:
                    targets.add(target)
        graph[name] = targets
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import circles: strongly connected sets of two or more modules (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in sorted(graph.get(module, ())):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def layer_of(module: str, layers: tuple[tuple[str, tuple[str, ...]], ...]) -> int | None:
    """The position of the layer whose entry names ``module`` most precisely (None: no entry does)."""
    best: tuple[int, int] | None = None  # (length of the entry, layer)
    for position, (_, entries) in enumerate(layers):
        for entry in entries:
            # A top-level entry names that module alone; a deeper one, a module and what is under it.
            names = module == entry or ("." in entry and module.startswith(entry + "."))
            if names and (best is None or len(entry) > best[0]):
                best = (len(entry), position)
    return None if best is None else best[1]


def layer_problems(graph: dict[str, set[str]], layers: tuple[tuple[str, tuple[str, ...]], ...]) -> list[str]:
    """One line per module no layer names and per import that points to a higher layer."""
    problems = []
    for module in sorted(graph):
        own = layer_of(module, layers)
        if own is None:
            problems.append(f"{module}: in no layer (add it to LAYERS in tests/test_layers.py)")
            continue
        for target in sorted(graph[module]):
            theirs = layer_of(target, layers)
            if theirs is not None and theirs > own:
                problems.append(
                    f"{module} ({layers[own][0]}) imports {target} ({layers[theirs][0]}), a higher layer"
                )
    return problems


def unexplained_function_imports(root: Path, package: str, exempt: tuple[str, ...] = ()) -> list[str]:
    """``module:line`` of each block of imports inside a function whose line above says nothing
    (no comment): an import belongs at the top of its module unless start-up time needs it there."""
    found = []
    for path in sorted((root / package).rglob("*.py")):
        name = module_name(path, root)
        if name.startswith(exempt):
            continue
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        tree = ast.parse(text)
        for function in ast.walk(tree):
            if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for block in ast.walk(function):
                for body in (getattr(block, field, None) for field in ("body", "orelse", "finalbody")):
                    if not isinstance(body, list):
                        continue
                    for i, statement in enumerate(body):
                        first = isinstance(statement, (ast.Import, ast.ImportFrom)) and not (
                            i and isinstance(body[i - 1], (ast.Import, ast.ImportFrom))
                        )
                        if first and "#" not in lines[statement.lineno - 2]:
                            found.append(f"{name}:{statement.lineno}")
    return sorted(set(found))


# --- the check, on a package made for it ------------------------------------------------------------

TOY_LAYERS = (("low", ("toy.low",)), ("high", ("toy.high",)))


def _toy(tmp_path: Path, files: dict[str, str]) -> dict[str, set[str]]:
    for relative, text in {"toy/__init__.py": "", **files}.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return import_graph(tmp_path, "toy")


def test_a_clean_package_passes(tmp_path):
    graph = _toy(tmp_path, {"toy/low.py": "import os\n", "toy/high.py": "from toy import low\n"})
    assert graph == {"toy": set(), "toy.low": set(), "toy.high": {"toy.low"}}
    assert circles(graph) == [] and layer_problems(graph, (("root", ("toy",)), *TOY_LAYERS)) == []


def test_an_upward_import_inside_a_function_fails(tmp_path):
    graph = _toy(
        tmp_path,
        {
            "toy/low.py": "def f():\n    from toy.high import g\n    return g\n",
            "toy/high.py": "def g(): ...\n",
        },
    )
    problems = layer_problems(graph, (("root", ("toy",)), *TOY_LAYERS))
    assert problems == ["toy.low (low) imports toy.high (high), a higher layer"]


def test_a_circle_fails_and_a_type_only_one_does_not(tmp_path):
    graph = _toy(
        tmp_path,
        {
            "toy/a.py": "from toy.b import x\n",
            "toy/b.py": "def x():\n    import toy.c\n",
            "toy/c.py": "from . import a\n",  # relative, at function level too: a -> b -> c -> a
            "toy/d.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from toy.a import A\n",
        },
    )
    assert circles(graph) == [["toy.a", "toy.b", "toy.c"]]
    graph = _toy(
        tmp_path, {"toy/c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import toy.a\n"}
    )
    assert circles(graph) == []


def test_a_lazily_exported_name_counts_as_an_import_of_its_module(tmp_path):
    graph = _toy(
        tmp_path,
        {
            "toy/high.py": "def g(): ...\n",
            "toy/__init__.py": '_EXPORTS = {"g": ("toy.high", "g")}\n',
            "toy/low.py": "def f():\n    from toy import g\n",
        },
    )
    assert graph["toy.low"] == {"toy.high"}


def test_a_module_in_no_layer_fails(tmp_path):
    graph = _toy(tmp_path, {"toy/low.py": "", "toy/stray.py": ""})
    assert layer_problems(graph, (("root", ("toy",)), *TOY_LAYERS)) == [
        "toy.stray: in no layer (add it to LAYERS in tests/test_layers.py)"
    ]


def test_the_most_precise_entry_decides(tmp_path):
    layers = (("root", ("toy",)), ("low", ("toy.pkg",)), ("high", ("toy.pkg.top",)))
    graph = _toy(
        tmp_path,
        {"toy/pkg/__init__.py": "", "toy/pkg/base.py": "from toy.pkg import top\n", "toy/pkg/top.py": ""},
    )
    assert layer_problems(graph, layers) == ["toy.pkg.base (low) imports toy.pkg.top (high), a higher layer"]


def test_an_import_inside_a_function_says_why(tmp_path):
    (tmp_path / "toy").mkdir()
    (tmp_path / "toy" / "a.py").write_text(
        "def f():\n    import json\n    import os\n\n\ndef g():\n    # heavy: the command line imports this\n"
        "    import json\n"
    )
    assert unexplained_function_imports(tmp_path, "toy") == ["toy.a:2"]


# --- the check, on baton ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def baton_graph() -> dict[str, set[str]]:
    return import_graph(SRC, "baton")


def test_baton_has_no_import_circle(baton_graph):
    assert circles(baton_graph) == []


def test_baton_imports_point_down(baton_graph):
    assert layer_problems(baton_graph, LAYERS) == []


def test_baton_imports_inside_functions_say_why():
    assert unexplained_function_imports(SRC, "baton") == []
