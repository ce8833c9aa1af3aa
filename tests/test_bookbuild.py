"""The book pipeline: toc, profiles, chapter rules, and execution (success and failure)."""

from __future__ import annotations

import ast
import re
import textwrap

import pytest
import yaml

from rsground_lib import bookbuild
from rsground_lib.bookbuild import ChapterError, Parameter, ProfileError

HEADER = "# ---\n# jupyter:\n#   jupytext:\n#     formats: py:percent\n# ---\n\n"


def write_project(root, chapters: dict[str, str], profile: dict | None = None):
    """A minimal rsground-shaped project: _toc.yml, params/smoke.yml, book/<stem>.py."""
    (root / "book").mkdir(parents=True)
    (root / "params").mkdir()
    stems = list(chapters)
    toc = {"format": "jb-book", "root": f"book/{stems[0]}"}
    if len(stems) > 1:
        toc["chapters"] = [{"file": f"book/{s}"} for s in stems[1:]]
    (root / "_toc.yml").write_text(yaml.safe_dump(toc))
    (root / "_config.yml").write_text(
        "title: t\nexecute:\n  execute_notebooks: 'off'\n"
        "sphinx:\n  config:\n    nb_render_markdown_format: myst\n"
    )
    (root / "params" / "smoke.yml").write_text(yaml.safe_dump(profile or {"profile": "smoke"}))
    for stem, body in chapters.items():
        title = f"# %% [markdown]\n# # Chapter {stem}\n\n"
        (root / "book" / f"{stem}.py").write_text(HEADER + title + textwrap.dedent(body))
    return root


# ------------------------------------------------------------------------------------ toc
def test_toc_lists_root_then_chapters_in_order(tmp_path):
    toc = tmp_path / "_toc.yml"
    toc.write_text(
        "format: jb-book\nroot: book/00_overview\nparts:\n"
        "  - caption: A\n    chapters:\n      - file: book/01_a\n        sections:\n"
        "          - file: book/01b.md\n  - caption: B\n    chapters:\n      - file: book/02_b\n"
    )
    assert bookbuild.toc_chapters(toc) == ["book/00_overview", "book/01_a", "book/01b", "book/02_b"]


def test_toc_entry_without_file_is_an_error(tmp_path):
    write_project(tmp_path, {"00_a": "# %%\nx = 1\n"})
    (tmp_path / "_toc.yml").write_text(
        "format: jb-book\nroot: book/00_a\nchapters:\n  - file: book/nope\n"
    )
    with pytest.raises(ValueError, match="book/nope"):
        bookbuild.notebook_sources(tmp_path)


# ------------------------------------------------------------------------------ profiles
CHAPTERS = {
    "00_a": {
        "profile": Parameter("profile", "smoke", "str", "str: p"),
        "seed": Parameter("seed", 0, "int", "int: s"),
    },
    "01_b": {
        "profile": Parameter("profile", "smoke", "str", "str: p"),
        "learning_rate": Parameter("learning_rate", 1e-3, "float", "float: lr"),
    },
}


def _profile(tmp_path, data, name="smoke"):
    path = tmp_path / f"{name}.yml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_profile_values_go_only_to_chapters_that_declare_them(tmp_path):
    path = _profile(
        tmp_path, {"seed": 3, "learning_rate": 2, "chapters": {"01_b": {"learning_rate": 0.5}}}
    )
    resolved = bookbuild.resolve_parameters(path, CHAPTERS)
    assert resolved == {
        "00_a": {"profile": "smoke", "seed": 3},
        "01_b": {"profile": "smoke", "learning_rate": 0.5},
    }


def test_unknown_profile_key_is_an_error_naming_file_and_key(tmp_path):
    path = _profile(tmp_path, {"seed": 3, "num_generation": 8})
    with pytest.raises(ProfileError, match=r"smoke\.yml.*num_generation"):
        bookbuild.resolve_parameters(path, CHAPTERS)


def test_unknown_chapter_override_is_an_error(tmp_path):
    path = _profile(tmp_path, {"chapters": {"01_b": {"seed": 1}}})
    with pytest.raises(ProfileError, match=r"chapters\.01_b.*seed"):
        bookbuild.resolve_parameters(path, CHAPTERS)
    path = _profile(tmp_path, {"chapters": {"09_z": {"seed": 1}}})
    with pytest.raises(ProfileError, match="09_z"):
        bookbuild.resolve_parameters(path, CHAPTERS)


def test_type_mismatch_is_an_error(tmp_path):
    path = _profile(tmp_path, {"seed": "three"})
    with pytest.raises(ProfileError, match=r"seed = 'three'.*int"):
        bookbuild.resolve_parameters(path, CHAPTERS)
    path = _profile(tmp_path, {"seed": True})
    with pytest.raises(ProfileError, match="seed"):
        bookbuild.resolve_parameters(path, CHAPTERS)


def test_types_come_from_the_chapter_comments(tmp_path):
    """The chapters document types as '# int: ...' (papermill alone infers none from that)."""
    root = write_project(
        tmp_path / "proj",
        {
            "00_a": '# %% tags=["parameters"]\nprofile = "smoke"  # str: p\nseed = 0  # int: s\n'
            "lr = 1e-4  # float: learning rate\nsizes = [1, 2]  # list: px\n\n# %%\nx = 1\n"
        },
    )
    params = bookbuild.chapter_parameters(root / "book" / "00_a.py")
    assert {n: (p.type_name, p.default) for n, p in params.items()} == {
        "profile": ("str", "smoke"),
        "seed": ("int", 0),
        "lr": ("float", 1e-4),
        "sizes": ("list", [1, 2]),
    }
    chapters = {"00_a": params}
    for bad in ({"seed": "zero"}, {"lr": "five"}, {"sizes": 3}, {"seed": 8.5}):
        with pytest.raises(ProfileError, match=next(iter(bad))):
            bookbuild.resolve_parameters(_profile(tmp_path, bad), chapters)
    ok = bookbuild.resolve_parameters(_profile(tmp_path, {"lr": 2, "seed": 3}), chapters)
    assert ok["00_a"] == {"profile": "smoke", "lr": 2, "seed": 3}


def test_profile_name_must_match_file(tmp_path):
    path = _profile(tmp_path, {"profile": "full"})
    with pytest.raises(ProfileError, match="differs from the file name"):
        bookbuild.resolve_parameters(path, CHAPTERS)


def test_missing_profile_lists_the_available_ones(tmp_path):
    _profile(tmp_path, {}, name="smoke")
    with pytest.raises(ProfileError, match="available: smoke"):
        bookbuild.load_profile(tmp_path / "gpu.yml")


# ------------------------------------------------------------- the project's own chapters
@pytest.fixture(scope="module")
def project_chapters(project_root):
    sources = bookbuild.notebook_sources(project_root)
    return {stem: bookbuild.chapter_parameters(path) for stem, path in sources.items()}


def test_every_book_py_is_in_the_toc(project_root):
    sources = bookbuild.notebook_sources(project_root)
    assert sorted(p.name for p in (project_root / "book").glob("*.py")) == sorted(
        p.name for p in sources.values()
    )
    assert next(iter(sources)) == "00_overview"


@pytest.mark.parametrize("profile", ["smoke", "full"])
def test_profiles_validate_against_the_chapters(project_root, project_chapters, profile):
    resolved = bookbuild.resolve_parameters(
        project_root / "params" / f"{profile}.yml", project_chapters
    )
    assert all(values["profile"] == profile for values in resolved.values())


def test_every_parameter_is_documented_with_its_type(project_chapters):
    for stem, params in project_chapters.items():
        for p in params.values():
            m = re.match(r"(str|int|float|bool|list|dict|tuple)\b[^:]*:\s*\S", p.help)
            assert m, (
                f"{stem}: parameter {p.name} needs a trailing comment 'type: meaning', got {p.help!r}"
            )
            assert m.group(1) == type(p.default).__name__, (
                f"{stem}.{p.name}: comment says {m.group(1)}, default is {p.default!r}"
            )


def test_papermill_reads_every_line_of_each_parameters_cell(project_root, project_chapters):
    """papermill silently drops a line it cannot parse (e.g. an '=' inside the comment)."""
    for stem, params in project_chapters.items():
        text = (project_root / "book" / f"{stem}.py").read_text()
        cell = text.split('# %% tags=["parameters"]\n', 1)[1].split("\n# %%", 1)[0]
        assigned = [
            ln.split("=", 1)[0].strip()
            for ln in cell.splitlines()
            if ln.strip() and not ln.startswith("#")
        ]
        assert assigned == list(params), f"{stem}: papermill read {list(params)} of {assigned}"


def test_chapters_hold_calls_not_logic(project_root):
    for path in (project_root / "book").glob("*.py"):
        tree = ast.parse(path.read_text())
        defs = [
            n
            for n in ast.walk(tree)
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda))
        ]
        assert defs == [], (
            f"{path.name} defines {[type(d).__name__ for d in defs]}: move it to rsground_lib"
        )


def test_chapters_follow_the_skeleton(project_root):
    for path in (project_root / "book").glob("*.py"):
        text = path.read_text()
        assert "formats: py:percent" in text, path.name
        assert '# %% tags=["parameters"]' in text, path.name
        for heading in (
            "**Overview.**",
            "**Prerequisites.**",
            "## Parameters",
            "## Summary",
            "## What's next",
        ):
            assert heading in text, f"{path.name} lacks {heading}"


# ------------------------------------------------------------------------------ execution
def test_failed_chapter_is_not_staged_and_the_error_names_the_cell(tmp_path):
    root = write_project(
        tmp_path / "proj",
        {
            "00_a": '# %% tags=["parameters"]\nprofile = "smoke"  # str: p\n\n# %%\nprint("fine")\n',
            "01_b": '# %% tags=["parameters"]\nprofile = "smoke"  # str: p\n\n# %%\nx = 1\n\n# %%\nraise RuntimeError("boom at " + profile)\n',
        },
    )
    with pytest.raises(
        ChapterError,
        match=r"01_b\.py failed in the cell starting `raise RuntimeError.*RuntimeError: boom at smoke",
    ):
        bookbuild.build_book("smoke", root=root, html=False, log=lambda m: None)
    stage = root / "_build" / "smoke" / "stage" / "book"
    assert (stage / "00_a.ipynb").is_file()
    assert not (stage / "01_b.ipynb").exists()
    assert (root / "_build" / "smoke" / "failed" / "01_b.ipynb").is_file()


def test_injected_parameters_reach_the_chapter(tmp_path):
    root = write_project(
        tmp_path / "proj",
        {
            "00_a": '# %% tags=["parameters"]\nprofile = "smoke"  # str: p\nseed = 0  # int: s\n\n# %%\nassert seed == 7, seed\n',
        },
        profile={"profile": "smoke", "seed": 7},
    )
    result = bookbuild.build_book("smoke", root=root, html=False, log=lambda m: None)
    assert [p.name for p in result.executed] == ["00_a.ipynb"]


def test_chapters_execute_without_progress_bar_widgets(tmp_path):
    """A tqdm bar in a notebook is a Jupyter widget, and one widget output makes the rendered
    page load require.js from a CDN; chapters are executed with bars off (KERNEL_ENV)."""
    import json
    import os

    root = write_project(
        tmp_path / "proj",
        {
            "00_bars": (
                '# %% tags=["parameters"]\nprofile = "smoke"  # str: p\n\n'
                "# %%\nfrom tqdm.auto import tqdm\nfrom transformers.utils import logging\n"
                "print(sum(tqdm(range(3))), sum(logging.tqdm(range(4), desc='Loading')))\n"
            )
        },
    )
    before = {k: os.environ.get(k) for k in bookbuild.KERNEL_ENV}
    out = bookbuild.execute_chapter(
        root / "book" / "00_bars.py",
        tmp_path / "out" / "00_bars.ipynb",
        {"profile": "smoke"},
        cwd=root / "book",
        failed_dir=tmp_path / "failed",
    )
    assert {k: os.environ.get(k) for k in bookbuild.KERNEL_ENV} == before
    nb = json.loads(out.read_text())
    outputs = [o for c in nb["cells"] for o in c.get("outputs", [])]
    assert any("3 6" in "".join(o.get("text", "")) for o in outputs), outputs
    assert not any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs)
    assert "widgets" not in nb["metadata"]
