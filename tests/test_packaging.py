"""The project's own files install what it needs: pyproject extras, environment.yml, Makefile."""

from __future__ import annotations

import os
import re
import tomllib

import yaml


def _pyproject(project_root):
    return tomllib.loads((project_root / "pyproject.toml").read_text())


def test_extras_are_the_four_the_readme_names(project_root):
    extras = _pyproject(project_root)["project"]["optional-dependencies"]
    assert set(extras) == {"ml", "geo", "book", "dev"}
    names = {
        extra: {re.split(r"[<>=!~ \[]", req, maxsplit=1)[0].lower() for req in reqs}
        for extra, reqs in extras.items()
    }
    assert {"torch", "transformers", "trl", "peft", "datasets", "accelerate"} <= names["ml"]
    assert {"geopandas", "shapely", "pyproj", "pyogrio", "rasterio"} <= names["geo"]
    assert {
        "jupyterlab",
        "jupytext",
        "papermill",
        "ipykernel",
        "matplotlib",
        "jupyter-book",
        "sphinx-mathjax-offline",
    } <= names["book"]
    assert {"pytest", "hypothesis", "ruff"} <= names["dev"]


def test_jupyter_book_is_held_below_2(project_root):
    book = _pyproject(project_root)["project"]["optional-dependencies"]["book"]
    (spec,) = [r for r in book if r.startswith("jupyter-book")]
    assert spec == "jupyter-book>=1.0.4,<2"


def test_every_requirement_has_a_lower_bound(project_root):
    project = _pyproject(project_root)["project"]
    reqs = project["dependencies"] + [
        r for rs in project["optional-dependencies"].values() for r in rs
    ]
    missing = [r for r in reqs if ">=" not in r]
    assert missing == []


def test_environment_yml_installs_exactly_the_pyproject_requirements(project_root):
    project = _pyproject(project_root)["project"]
    expected = set(project["dependencies"]) | {
        r for rs in project["optional-dependencies"].values() for r in rs
    }
    env = yaml.safe_load((project_root / "environment.yml").read_text())
    (pip_section,) = [d for d in env["dependencies"] if isinstance(d, dict)]
    pip_reqs = set(pip_section["pip"])
    assert "-e . --no-deps" in pip_reqs
    assert pip_reqs - {"-e . --no-deps"} == expected
    assert "pip" in env["dependencies"]


def test_makefile_has_the_readme_verbs_and_each_needs_the_environment(project_root):
    makefile = (project_root / "Makefile").read_text()
    readme = (project_root / "README.md").read_text()
    for verb in ("setup", "test", "smoke", "book", "reproduce", "bench", "lab", "clean"):
        assert re.search(rf"^{verb}:", makefile, re.M), verb
        assert f"make {verb}" in readme, verb
    for verb in ("test", "smoke", "book", "reproduce", "bench", "lab"):
        (line,) = re.findall(rf"^{verb}:.*$", makefile, re.M)
        assert "$(STAMP)" in line, f"make {verb} must depend on the environment stamp"
    assert re.search(r"^\$\(STAMP\): pyproject.toml", makefile, re.M)


def test_ci_calls_the_readme_test_command(project_root):
    ci = (project_root / ".ci" / "run").read_text()
    readme = (project_root / "README.md").read_text()
    assert "make test" in readme
    assert re.search(r"^\s*make test\b", ci, re.M)
    assert "RSGROUND_DATA" in ci


def test_make_reproduce_runs_the_doctor_first_logs_and_keeps_the_book_status(
    project_root, tmp_path
):
    """``make reproduce``: the doctor first (its failure stops it), then the book on the
    full profile with CHAPTERS passed on, its output copied to the log, and the book's exit
    status (not tee's) as make's. A fake ``rsground`` stands in for the GPU run."""
    import subprocess

    fake = tmp_path / "bin" / "rsground"
    fake.parent.mkdir()
    fake.write_text(
        "#!/bin/sh\n"
        'echo "called: $*"\n'
        'if [ "$1" = doctor ]; then exit "${DOCTOR_RC:-0}"; fi\n'
        "exit 3\n"
    )
    fake.chmod(0o755)
    stamp = tmp_path / "stamp"
    stamp.write_text("")
    log = tmp_path / "logs" / "reproduce.log"
    base = ["make", "-s", "-C", str(project_root), "reproduce", f"BIN={fake.parent}",
            f"STAMP={stamp}", f"REPRODUCE_LOG={log}"]  # fmt: skip
    out = subprocess.run(base + ["CHAPTERS=04_rft 05_evaluation", "DOCTOR=--no-real-data"],
                         capture_output=True, text=True)  # fmt: skip
    assert out.returncode != 0  # the book's exit status 3 reaches make through tee
    assert "called: doctor --download --no-real-data" in out.stdout
    assert "called: book --profile full --chapters 04_rft 05_evaluation" in out.stdout
    assert log.read_text() == "called: book --profile full --chapters 04_rft 05_evaluation\n"
    assert f"tail -f {log}" in out.stdout
    stopped = subprocess.run(
        base, capture_output=True, text=True, env={**os.environ, "DOCTOR_RC": "1"}
    )
    assert stopped.returncode != 0 and "called: book" not in stopped.stdout
