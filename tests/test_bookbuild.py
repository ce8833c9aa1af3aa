"""The book pipeline: toc, profiles, chapter rules, and execution (success and failure)."""

from __future__ import annotations

import ast
import os
import re
import textwrap
from pathlib import Path

import pytest
import yaml

from rsground_lib import bookbuild, profiles
from rsground_lib.bookbuild import ChapterError
from rsground_lib.profiles import Parameter, ProfileError

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
    resolved = profiles.resolve_parameters(path, CHAPTERS)
    assert resolved == {
        "00_a": {"profile": "smoke", "seed": 3},
        "01_b": {"profile": "smoke", "learning_rate": 0.5},
    }


def test_unknown_profile_key_is_an_error_naming_file_and_key(tmp_path):
    path = _profile(tmp_path, {"seed": 3, "num_generation": 8})
    with pytest.raises(ProfileError, match=r"smoke\.yml.*num_generation"):
        profiles.resolve_parameters(path, CHAPTERS)


def test_unknown_chapter_override_is_an_error(tmp_path):
    path = _profile(tmp_path, {"chapters": {"01_b": {"seed": 1}}})
    with pytest.raises(ProfileError, match=r"chapters\.01_b.*seed"):
        profiles.resolve_parameters(path, CHAPTERS)
    path = _profile(tmp_path, {"chapters": {"09_z": {"seed": 1}}})
    with pytest.raises(ProfileError, match="09_z"):
        profiles.resolve_parameters(path, CHAPTERS)


def test_type_mismatch_is_an_error(tmp_path):
    path = _profile(tmp_path, {"seed": "three"})
    with pytest.raises(ProfileError, match=r"seed = 'three'.*int"):
        profiles.resolve_parameters(path, CHAPTERS)
    path = _profile(tmp_path, {"seed": True})
    with pytest.raises(ProfileError, match="seed"):
        profiles.resolve_parameters(path, CHAPTERS)


def test_types_come_from_the_chapter_comments(tmp_path):
    """The chapters document types as '# int: ...' (papermill alone infers none from that)."""
    root = write_project(
        tmp_path / "proj",
        {
            "00_a": '# %% tags=["parameters"]\nprofile = "smoke"  # str: p\nseed = 0  # int: s\n'
            "lr = 1e-4  # float: learning rate\nsizes = [1, 2]  # list: px\n\n# %%\nx = 1\n"
        },
    )
    params = profiles.chapter_parameters(root / "book" / "00_a.py")
    assert {n: (p.type_name, p.default) for n, p in params.items()} == {
        "profile": ("str", "smoke"),
        "seed": ("int", 0),
        "lr": ("float", 1e-4),
        "sizes": ("list", [1, 2]),
    }
    chapters = {"00_a": params}
    for bad in ({"seed": "zero"}, {"lr": "five"}, {"sizes": 3}, {"seed": 8.5}):
        with pytest.raises(ProfileError, match=next(iter(bad))):
            profiles.resolve_parameters(_profile(tmp_path, bad), chapters)
    ok = profiles.resolve_parameters(_profile(tmp_path, {"lr": 2, "seed": 3}), chapters)
    assert ok["00_a"] == {"profile": "smoke", "lr": 2, "seed": 3}


def test_profile_name_must_match_file(tmp_path):
    path = _profile(tmp_path, {"profile": "full"})
    with pytest.raises(ProfileError, match="differs from the file name"):
        profiles.resolve_parameters(path, CHAPTERS)


def test_missing_profile_lists_the_available_ones(tmp_path):
    _profile(tmp_path, {}, name="smoke")
    with pytest.raises(ProfileError, match="available: smoke"):
        profiles.load_profile(tmp_path / "gpu.yml")


# ------------------------------------------------------------- the project's own chapters
@pytest.fixture(scope="module")
def project_chapters(project_root):
    sources = bookbuild.notebook_sources(project_root)
    return {stem: profiles.chapter_parameters(path) for stem, path in sources.items()}


def test_every_book_py_is_in_the_toc(project_root):
    sources = bookbuild.notebook_sources(project_root)
    assert sorted(p.name for p in (project_root / "book").glob("*.py")) == sorted(
        p.name for p in sources.values()
    )
    assert next(iter(sources)) == "00_overview"


@pytest.mark.parametrize("profile", ["smoke", "full"])
def test_profiles_validate_against_the_chapters(project_root, project_chapters, profile):
    resolved = profiles.resolve_parameters(
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
    for path in _chapter_files(project_root):
        tree = ast.parse(path.read_text())
        defs = [
            n
            for n in ast.walk(tree)
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda))
        ]
        assert defs == [], (
            f"{path.name} defines {[type(d).__name__ for d in defs]}: move it to rsground_lib"
        )


def _chapter_files(project_root):
    """Every chapter, and the template a new chapter is copied from."""
    return [
        *sorted((project_root / "book").glob("*.py")),
        project_root / "book" / "templates" / "chapter.py",
    ]


def test_chapters_follow_the_skeleton(project_root):
    for path in _chapter_files(project_root):
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
        # the rules of the book as a reader sees it (the template states them)
        assert "json.dumps(" not in text, f"{path.name}: write artefacts with files.write_json"
        assert "float('nan')" not in text and 'float("nan")' not in text, (
            f"{path.name}: a missing value is said with report.percent / report.NOT_MEASURED"
        )
        whats_next = text.split("## What's next", 1)[1]
        links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", whats_next)
        assert links, f"{path.name}: What's next links to no page"
        for link in links:
            target = (path.parent / link).with_suffix("")
            assert any(target.with_suffix(ext).is_file() for ext in (".py", ".md")), (
                f"{path.name}: What's next links to {link}, which is no page of the book"
            )


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


# ----------------------------------------------------- issue 11, finding 6: profile hardening
def _raw_profile(tmp_path, text, name="smoke"):
    path = tmp_path / f"{name}.yml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


@pytest.mark.parametrize(
    "text, key, lines",
    [
        ("seed: 1\nlearning_rate: 0.1\nseed: 2\n", "'seed'", (3, 1)),
        (
            "chapters:\n  01_b:\n    learning_rate: 0.1\n    learning_rate: 0.2\n",
            "'learning_rate'",
            (4, 3),
        ),
        (
            "chapters:\n  00_a: {seed: 1}\nseed: 3\nchapters:\n  01_b: {learning_rate: 0.5}\n",
            "'chapters'",
            (4, 1),
        ),
    ],
)
def test_duplicate_profile_keys_are_refused(tmp_path, text, key, lines):
    path = _raw_profile(tmp_path, text)
    with pytest.raises(ProfileError) as err:
        profiles.resolve_parameters(path, CHAPTERS)
    assert str(err.value) == (
        f"{path}: line {lines[0]}: duplicate key {key} (first on line {lines[1]}); "
        "YAML would silently keep only the last value"
    )


def test_merge_keys_may_still_be_overridden(tmp_path):
    path = _raw_profile(
        tmp_path,
        "chapters:\n  00_a: &a {seed: 1}\n  01_b:\n    <<: {learning_rate: 0.1}\n"
        "    learning_rate: 0.2\n",
    )
    assert profiles.load_profile(path)["chapters"] == {
        "00_a": {"seed": 1},
        "01_b": {"learning_rate": 0.2},
    }


def test_non_utf8_profile_names_the_file(tmp_path):
    path = _raw_profile(tmp_path, b"seed: 1\nlearning_rate: \xff\n")
    with pytest.raises(
        ProfileError, match=r"smoke\.yml: not UTF-8 text \(byte 0xff at offset 23\)"
    ):
        profiles.load_profile(path)


@pytest.mark.parametrize("bad", ["../other/x", "a/b", "smoke.txt", "/etc/passwd", "", "..", "-x"])
def test_profile_must_be_a_name_or_a_yaml_file(tmp_path, bad):
    (tmp_path / "params").mkdir()
    with pytest.raises(ProfileError, match="expected a profile name") as err:
        profiles.resolve_profile(bad, tmp_path)
    assert repr(bad) in str(err.value)


def test_profile_names_and_explicit_files(tmp_path, monkeypatch):
    (tmp_path / "params").mkdir()
    assert profiles.resolve_profile("full-gpu_2", tmp_path) == (
        "full-gpu_2",
        tmp_path / "params" / "full-gpu_2.yml",
    )
    monkeypatch.chdir(tmp_path)
    (tmp_path / "elsewhere").mkdir()
    mine = tmp_path / "elsewhere" / "mine.yaml"
    mine.write_text("seed: 1\n")
    assert profiles.resolve_profile("elsewhere/mine.yaml", tmp_path) == (
        "mine",
        Path("elsewhere/mine.yaml"),
    )
    with pytest.raises(ProfileError, match="no such file"):
        profiles.resolve_profile("elsewhere/other.yml", tmp_path)
    (tmp_path / "params" / "full.yml").write_text("seed: 1\n")
    with pytest.raises(
        ProfileError, match=r"no such file .*full\.yml \(did you mean --profile full"
    ):
        profiles.resolve_profile("elsewhere/full.yml", tmp_path)
    (tmp_path / "elsewhere" / "my profile.yml").write_text("seed: 1\n")
    with pytest.raises(ProfileError, match="stem 'my profile'"):
        profiles.resolve_profile("elsewhere/my profile.yml", tmp_path)


def test_profile_outside_params_writes_nothing_outside_build(tmp_path):
    root = write_project(
        tmp_path / "proj", {"00_a": '# %% tags=["parameters"]\nprofile = "smoke"  # str: p\n'}
    )
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x.yml").write_text("profile: x\n")
    with pytest.raises(ProfileError, match=r"profile '\.\./other/x': expected a profile name"):
        bookbuild.build_book("../other/x", root=root, html=False, log=lambda m: None)
    assert not (root / "_build").exists()
    assert sorted(p.name for p in (tmp_path / "other").iterdir()) == ["x.yml"]


def test_explicit_profile_file_builds_under_build_named_after_its_stem(tmp_path):
    root = write_project(
        tmp_path / "proj",
        {
            "00_a": '# %% tags=["parameters"]\nprofile = "smoke"  # str: p\nseed = 0  # int ≥ 0: s\n'
            "\n# %%\nassert (profile, seed) == ('mine', 4), (profile, seed)\n"
        },
    )
    mine = tmp_path / "elsewhere" / "mine.yml"
    mine.parent.mkdir()
    mine.write_text("seed: 4\n")
    result = bookbuild.build_book(str(mine), root=root, html=False, log=lambda m: None)
    assert result.executed == [root / "_build" / "mine" / "stage" / "book" / "00_a.ipynb"]


# ------------------------------------------------------------------------------- ranges
@pytest.mark.parametrize(
    "type_name, text, inside, outside",
    [
        ("int", "≥ 2", [2, 8], [1, 0, -3]),
        ("int", "> 0", [1], [0]),
        ("float", "< 1", [0.5, -2], [1, 1.5]),
        ("float", "≤ 1e-2", [0.01, 0], [0.011]),
        ("float", "in [0, 1]", [0, 0.1, 1], [-0.1, 1.01, float("nan")]),
        ("float", "in (0, 1)", [0.5], [0, 1]),
        ("float", "in [0, inf)", [0, 5.0, 1e300], [-5, float("inf"), float("nan")]),
        ("int", "in [64, 4096]", [64, 4096], [63, 4097]),
        ("str", "in {base, synthetic}", ["base", "synthetic"], ["synth", "", 1]),
        ("str", "in {'a b', \"c\"}", ["a b", "c"], ["a"]),
        ("int", "in {1, 2, 4}", [1, 4], [3, "1", True]),
    ],
)
def test_range_syntax(type_name, text, inside, outside):
    c = profiles.parse_constraint(type_name, text)
    assert str(c) == text
    assert all(c.admits(v) for v in inside), [v for v in inside if not c.admits(v)]
    assert not any(c.admits(v) for v in outside), [v for v in outside if c.admits(v)]


@pytest.mark.parametrize(
    "type_name, text",
    [
        ("int", "at least 1"),
        ("int", "≥ one"),
        ("float", "in [1, 0]"),
        ("float", "in [0, 1"),
        ("str", "> 0"),
        ("list", "in {a}"),
        ("int", "in {}"),
        ("int", "in {one}"),
    ],
)
def test_unreadable_ranges_are_errors(type_name, text):
    with pytest.raises(ValueError):
        profiles.parse_constraint(type_name, text)


RANGED_CHAPTER = (
    '# %% tags=["parameters"]\nprofile = "smoke"  # str: p\n'
    "num_generations = 8  # int ≥ 2: rollouts per prompt\n"
    "kappa = 5.0  # float in [0, inf): consistency strength\n"
    "w_min = 0.1  # float in [0, 1]: lower bound\n"
    'scenes = "base"  # str in {base, synthetic}: scene source\n'
    "sizes = [1, 2]  # list: px\n"
    "\n# %%\nx = 1\n"
)


@pytest.fixture
def ranged_chapters(tmp_path):
    root = write_project(tmp_path / "proj", {"00_a": RANGED_CHAPTER})
    return {"00_a": profiles.chapter_parameters(root / "book" / "00_a.py")}


def test_ranges_come_from_the_chapter_comments(ranged_chapters):
    params = ranged_chapters["00_a"]
    assert {
        n: (p.type_name, str(p.constraint) if p.constraint else None) for n, p in params.items()
    } == {
        "profile": ("str", None),
        "num_generations": ("int", "≥ 2"),
        "kappa": ("float", "in [0, inf)"),
        "w_min": ("float", "in [0, 1]"),
        "scenes": ("str", "in {base, synthetic}"),
        "sizes": ("list", None),
    }
    assert params["kappa"].help == "float in [0, inf): consistency strength"


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "kappa: -5\n",
            "kappa = -5 is out of range: chapter 00_a declares float in [0, inf) (default 5.0)",
        ),
        (
            "num_generations: 0\n",
            "num_generations = 0 is out of range: chapter 00_a declares int ≥ 2 (default 8)",
        ),
        ("kappa: .nan\n", "kappa = nan is out of range"),
        ("w_min: 1.5\n", "w_min = 1.5 is out of range: chapter 00_a declares float in [0, 1]"),
        (
            "scenes: synth\n",
            "scenes = 'synth' is out of range: chapter 00_a declares str in {base, synthetic}",
        ),
        (
            "chapters:\n  00_a:\n    num_generations: 1\n",
            "chapters.00_a.num_generations = 1 is out of range",
        ),
    ],
)
def test_out_of_range_profile_values_are_errors(tmp_path, ranged_chapters, text, message):
    path = _raw_profile(tmp_path, text)
    with pytest.raises(ProfileError) as err:
        profiles.resolve_parameters(path, ranged_chapters)
    assert str(err.value).startswith(f"{path}: ")
    assert message in str(err.value)


def test_in_range_values_pass(tmp_path, ranged_chapters):
    path = _raw_profile(tmp_path, "kappa: 0\nnum_generations: 2\nw_min: 1\nscenes: synthetic\n")
    assert profiles.resolve_parameters(path, ranged_chapters)["00_a"] == {
        "profile": "smoke",
        "kappa": 0,
        "num_generations": 2,
        "w_min": 1,
        "scenes": "synthetic",
    }


@pytest.mark.parametrize(
    "line, message",
    [
        (
            "kappa = -1.0  # float ≥ 0: k",
            "kappa = -1.0 lies outside its own declared range float ≥ 0",
        ),
        ("kappa = 1.0  # float at least 0: k", "parameter kappa: unreadable range 'at least 0'"),
        ("kappa = 1.0  # float >= 0: k", "holds more than one '='"),
        ("opts = dict(a=1)  # dict: o", "holds more than one '='"),
    ],
)
def test_bad_parameter_comments_are_errors_naming_the_chapter(tmp_path, line, message):
    root = write_project(
        tmp_path / "proj",
        {"00_a": f'# %% tags=["parameters"]\nprofile = "smoke"  # str: p\n{line}\n'},
    )
    with pytest.raises(ProfileError, match=re.escape(message)) as err:
        profiles.chapter_parameters(root / "book" / "00_a.py")
    assert str(err.value).startswith(str(root / "book" / "00_a.py"))


@pytest.mark.parametrize("text", ["kappa: -5\n", "num_generations: 0\n"])
def test_range_errors_stop_the_build_before_anything_runs(tmp_path, text):
    root = write_project(tmp_path / "proj", {"00_a": RANGED_CHAPTER})
    (root / "params" / "smoke.yml").write_text(text)
    with pytest.raises(ProfileError, match="is out of range"):
        bookbuild.build_book("smoke", root=root, html=False, log=lambda m: None)
    assert not (root / "_build").exists()


def test_project_chapters_declare_ranges_that_their_defaults_meet(project_chapters):
    ranged = {
        (stem, name): str(p.constraint)
        for stem, params in project_chapters.items()
        for name, p in params.items()
        if p.constraint is not None
    }
    assert ranged[("01_rewards", "kappa")] == "in [0, inf)"
    assert ranged[("01_rewards", "num_generations")] == "≥ 2"
    assert ranged[("01_rewards", "w_min")] == "in [0, 1]"
    assert ranged[("03_cot_sft", "max_steps")] == "≥ 1"


def test_the_books_own_css_is_staged(tmp_path):
    root = tmp_path / "proj"
    (root / "book").mkdir(parents=True)
    (root / "_static").mkdir()
    (root / "_static" / "x.css").write_text("table { display: block; }")
    (root / "_config.yml").write_text("title: t\n")
    stage = tmp_path / "stage"
    bookbuild.stage_static(root, stage)
    assert (stage / "_static" / "x.css").read_text() == "table { display: block; }"
    assert (stage / "_config.yml").is_file()


def test_kernels_talk_over_local_sockets_without_the_tcp_warning(tmp_path, capfd):
    root = write_project(
        tmp_path / "proj",
        {"00_a": '# %% tags=["parameters"]\nprofile = "smoke"  # str: p\n\n# %%\nprint(41 + 1)\n'},
    )
    bookbuild.build_book("smoke", root=root, html=False, log=lambda m: None)
    captured = capfd.readouterr()
    assert "without encryption" not in captured.err + captured.out
    assert not list(root.glob("kernel-*")) and not list((root / "book").glob("kernel-*"))


def test_the_chapter_template_declares_typed_parameters(project_root):
    params = profiles.chapter_parameters(project_root / "book" / "templates" / "chapter.py")
    assert list(params) == ["profile", "runs_root", "seed"]
    assert params["seed"].type_name == "int" and str(params["seed"].constraint) == "≥ 0"


def test_several_gpus_pin_the_chapters_to_one(tmp_path, monkeypatch):
    """With two GPUs listed by nvidia-smi (a fake one on PATH here), the kernels run with
    CUDA_VISIBLE_DEVICES=0 and the build says so; in one process the Trainer would otherwise
    wrap the model in nn.DataParallel."""
    fake = tmp_path / "bin" / "nvidia-smi"
    fake.parent.mkdir()
    fake.write_text(
        "#!/bin/sh\necho 'NVIDIA H100, 81559, 81000, 570.86'\necho 'NVIDIA H100, 81559, 81000, 570.86'\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ['PATH']}")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    root = write_project(
        tmp_path / "proj",
        {
            "00_a": '# %% tags=["parameters"]\nprofile = "smoke"  # str: p\n\n# %%\nimport os\nassert os.environ.get("CUDA_VISIBLE_DEVICES") == "0", os.environ.get("CUDA_VISIBLE_DEVICES")\n',
        },
    )
    said = []
    bookbuild.build_book("smoke", root=root, html=False, log=said.append)
    assert any("2 GPUs visible: the chapters run in one process on GPU 0" in m for m in said)
    assert "CUDA_VISIBLE_DEVICES" not in os.environ


def test_a_null_value_and_an_unknown_registry_name_are_refused_when_the_profile_is_read(
    tmp_path,
):
    """``kappa:`` left empty in YAML is null: refused naming the key, not passed on to fail
    later; a reward or real split that no registry holds is refused before any chapter runs
    (not after the CoT-SFT chapter's 15 minutes); a numeric string gets the YAML hint."""
    path = tmp_path / "smoke.yml"
    chapters = {"04_rft": {"reward_funcs": Parameter("reward_funcs", ["iou"], "list", "list: r"),
                           "real_splits": Parameter("real_splits", [], "list", "list: s")}}  # fmt: skip
    cases = [
        ("learning_rate:\n", CHAPTERS,
         r"smoke.yml: learning_rate is null \(an empty value in YAML\); the chapter declares float"),
        ("learning_rate: 1e-5\n", CHAPTERS,
         r"learning_rate = '1e-5' \(str\).*YAML 1.1 reads 1e-5 as a string"),
        ("reward_funcs: [format, iou_reward]\n", chapters,
         r"reward_funcs: unknown name\(s\) 'iou_reward'; rsground_lib.rewards.REWARDS has .*format.*iou"),
        ("chapters: {04_rft: {real_splits: [DIOR-RSVG tset]}}\n", chapters,
         r"chapters.04_rft.real_splits: unknown name\(s\) 'DIOR-RSVG tset'"),
    ]  # fmt: skip
    for text, declared, message in cases:
        path.write_text(text)
        with pytest.raises(ProfileError, match=message):
            profiles.resolve_parameters(path, declared)
    path.write_text("reward_funcs: [format, iou]\nreal_splits: [DIOR-RSVG test]\n")
    assert profiles.resolve_parameters(path, chapters)["04_rft"]["reward_funcs"] == [
        "format",
        "iou",
    ]
