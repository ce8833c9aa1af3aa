"""Config dataclasses are parsed like TRL's (HfArgumentParser over help-annotated fields),
unknown keys are errors, and recipe files (YAML or JSON) name themselves when bad."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from rsground_lib.config import help_field, load_recipe, parse_config
from rsground_lib.training.tiny_base import BasePretrainConfig

PROJECT = Path(__file__).resolve().parents[1]


@dataclass
class Knobs:
    steps: int = help_field("optimizer steps", default=3)
    name: str = help_field("a name", default="x")
    data: dict = help_field("keywords", default_factory=dict)


def test_parse_config_builds_and_refuses_unknown_keys():
    knobs = parse_config(Knobs, {"steps": 7, "data": {"mode": "multi"}})
    assert (knobs.steps, knobs.name, knobs.data) == (7, "x", {"mode": "multi"})
    with pytest.raises(ValueError, match=r"Knobs: unknown keys \['step'\]; expected some of"):
        parse_config(Knobs, {"step": 7})
    with pytest.raises(ValueError, match="expected a mapping"):
        parse_config(Knobs, [("steps", 7)])
    assert Knobs.__dataclass_fields__["steps"].metadata["help"] == "optimizer steps"


def test_every_field_of_the_base_recipe_has_help():
    for f in BasePretrainConfig.__dataclass_fields__.values():
        assert f.metadata.get("help"), f.name


def test_recipes_in_yaml_and_json_give_the_same_config(tmp_path):
    values = {"learning_rate": 0.001, "stages": [{"steps": 5, "data": {"max_objects": 1}}]}
    (tmp_path / "r.yaml").write_text(
        "learning_rate: 0.001\nstages:\n  - steps: 5\n    data: {max_objects: 1}\n"
    )
    (tmp_path / "r.json").write_text(json.dumps(values))
    assert load_recipe(tmp_path / "r.yaml") == load_recipe(tmp_path / "r.json") == values
    cfg = BasePretrainConfig.from_dict(load_recipe(tmp_path / "r.yaml"))
    assert cfg.learning_rate == 0.001 and cfg.max_steps == 5


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("r.txt", b"a: 1", "expected a .yaml, .yml or .json recipe"),
        ("r.yaml", b"\xff\xfe\x00a", "expected UTF-8 text"),
        ("r.yaml", b"a: [1, 2", "cannot parse the recipe"),
        ("r.json", b"{1: 2}", "cannot parse the recipe"),
        ("r.yaml", b"- 1\n- 2\n", "expected a mapping of config fields, got list"),
    ],
)
def test_bad_recipes_name_the_file(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message) as info:
        load_recipe(path)
    assert name in str(info.value)
    with pytest.raises(ValueError, match="no such recipe file"):
        load_recipe(tmp_path / "missing.yaml")


def test_config_values_are_type_checked_and_converted_only_when_unambiguous():
    """YAML reads ``1e-5`` as a string: a numeric string for a number field becomes the
    number; a value that fits no field type is refused naming the class, the field, the
    value and the type (a string for a list, which the trainer would read letter by letter,
    included) — for every config class built from a mapping."""
    from rsground_lib.training import rft, sft, tiny_base

    cfg = rft.RftConfig.from_dict(
        {"learning_rate": "1e-5", "max_steps": "100", "consistency_kappa": "5"}
    )
    assert (cfg.learning_rate, cfg.max_steps, cfg.consistency_kappa) == (1e-5, 100, 5.0)
    assert isinstance(cfg.consistency_kappa, float) and isinstance(cfg.max_steps, int)
    assert sft.SftConfig.from_dict({"max_steps": 4.0}).max_steps == 4
    cases = [
        (rft.RftConfig, {"num_generations": 2.5}, "RftConfig.num_generations: expected int or null; got 2.5 (float)"),
        (rft.RftConfig, {"reward_funcs": "iou"}, "RftConfig.reward_funcs: expected a list of str; got 'iou' (str); write a list, e.g. [iou]"),
        (sft.SftConfig, {"use_peft": "yes"}, "SftConfig.use_peft: expected bool; got 'yes' (str)"),
        (sft.SftConfig, {"max_steps": "1e2"}, "SftConfig.max_steps: expected int; got '1e2' (str); YAML 1.1 reads 1e-5 as a string"),
        (sft.SftConfig, {"learning_rate": None}, "SftConfig.learning_rate: expected float; got None (NoneType); YAML 1.1"),
        (tiny_base.BasePretrainConfig, {"seed": "zero"}, "BasePretrainConfig.seed: expected int; got 'zero' (str)"),
    ]  # fmt: skip
    for cls, values, message in cases:
        with pytest.raises(ValueError) as err:
            cls.from_dict(values)
        assert str(err.value).startswith(message), (str(err.value), message)


def test_a_chapter_hands_its_parameters_to_the_trainer_config_by_name():
    """The RFT chapter builds its RftConfig from its parameters by name (parameters → config,
    one way): exactly the parameters that are RftConfig fields, none restated by hand."""
    from rsground_lib import config, profiles
    from rsground_lib.training import rft

    declared = profiles.chapter_parameters(PROJECT / "book" / "04_rft.py")
    namespace = {name: p.default for name, p in declared.items()} | {"run_dir": "x"}
    values = config.field_values(rft.RftConfig, profiles.parameter_values("04_rft", namespace))
    assert "run_dir" not in values and "scenes" not in values and "num_probe_prompts" not in values
    assert values["consistency_kappa"] == declared["consistency_kappa"].default
    assert {"reward_funcs", "beta", "temperature", "num_threads", "seed"} <= set(values)
    rft.RftConfig.from_dict({**values, "model_name_or_path": "x", "output_dir": "y"})  # valid
    with pytest.raises(KeyError, match=r"parameters \['profile'"):
        profiles.parameter_values("04_rft", {})
