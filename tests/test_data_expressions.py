"""Referring expressions: the grammar, the resolver and the generator
(rsground_lib.data.grammar, rsground_lib.data.resolver, rsground_lib.data.expressions).

Hand-made scenes with hand-checked answers for every cue; the parse ↔ realise round trip;
thousands of generated scenes whose kept expressions must resolve, from their TEXT, to exactly
their target; the cue mix; the cue tagger's agreement with the intended cue.
"""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from rsground_lib import vocabulary
from rsground_lib.data import expressions as ex
from rsground_lib.data import synthetic as sy
from rsground_lib.data.grammar import CELL_NAMES, SIDES, NounPhrase, Query, parse_expression
from rsground_lib.data.resolver import resolve, resolve_detailed
from rsground_lib.vocabulary import CLASS_NOUNS, COLOR_NAMES

try:
    from rsground_lib.data.cues import tag_cues
except ImportError:  # pragma: no cover - the tagger is another module
    tag_cues = None

S = 300  # side of the hand-made scenes (3x3 cells of 100 px)


def obj(category, x1, y1, x2, y2, color="white", area=None):
    out = {"category": category, "bbox": [x1, y1, x2, y2], "color": color}
    if area is not None:
        out["area_px"] = area
    return out


# A hand-made scene: four tanks, a bridge, two vehicles, a ship.
TANKS = [
    obj("storagetank", 20, 20, 50, 50, "white"),  # 0: upper left, centre (35, 35)
    obj("storagetank", 120, 130, 150, 160, "gray"),  # 1: centre, (135, 145)
    obj("storagetank", 220, 230, 280, 290, "white"),  # 2: lower right, big (60x60)
    obj("storagetank", 220, 30, 250, 60, "white"),  # 3: upper right, (235, 45)
]
SCENE = TANKS + [
    obj("bridge", 120, 20, 170, 60, "gray"),  # 4: top middle (145, 40)
    obj("vehicle", 60, 140, 72, 146, "red"),  # 5: left of tank 1 (66, 143)
    obj("vehicle", 180, 250, 192, 256, "blue"),  # 6: left of tank 2, (186, 253)
    obj("ship", 30, 240, 80, 255, "white"),  # 7: lower left
]


# ----------------------------------------------------------------------------- hand-made


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        # absolute
        ("The storage tank in the upper left", [0]),
        ("a tank on the top-left corner of the image", [0]),
        ("The tank in the centre", [1]),
        ("the oil tank in the middle of the image", [1]),
        ("The tank at the lower right", [2]),
        ("the tank in the upper right part of the picture", [3]),
        ("The tank at the bottom", []),
        ("The bridge at the top", [4]),
        ("A ship in the bottom-left corner", [7]),
        # ordinal
        ("The second storage tank from the left", [1]),
        ("the tank that is first from the top", [0, 3]),  # tanks 0 and 3 tie in y
        ("The third tank counting from the top", [1]),
        ("the 2nd tank from the right", [2, 3]),  # 2 and 3 tie in x
        # extreme
        ("The leftmost tank", [0]),
        ("the left-most oil tank", [0]),
        ("The tank farthest to the left", [0]),
        ("the bottommost tank", [2]),
        ("The lowest tank", [2]),
        ("The largest tank", [2]),
        ("the smallest tank", [0, 1, 3]),  # equal sizes: no clear smallest
        ("The tank closest to the top edge of the image", [0, 3]),
        # size
        ("The large tank", [2]),
        ("the big oil tank", [2]),
        ("The small tank", [0, 1, 3]),
        # colour
        ("The gray tank", [1]),
        ("the grey-coloured tank", [1]),
        ("The tank that is grey", [1]),
        ("The white tank", [0, 2, 3]),
        ("The red vehicle", [5]),
        ("the car painted blue", [6]),
        # none
        ("The bridge", [4]),
        ("the ship", [7]),
        ("The tank", [0, 1, 2, 3]),
        # relative
        ("The vehicle to the left of the gray tank", [5]),
        # vehicle 5 is also left of tank 2, 32° off the axis (< 60°): ambiguous
        ("the vehicle that is on the left of the large tank", [5, 6]),
        ("The tank below the bridge", [1, 2]),  # tank 2: 25° off the vertical
        ("The ship below the bridge", [7]),
        ("The tank to the right of the bridge", [3]),
        ("The tank on the left side of the bridge", [0]),
        ("The vehicle next to the red vehicle", []),  # the other vehicle is 150 px away
        ("The vehicle next to the gray tank", [5]),  # gap 48 px
        ("the vehicle near the tank in the lower right", [6]),
        ("The vehicle between the bridge and the ship", [5]),
        ("The tank between the bridge and the ship", [0, 1]),  # tank 0: t 0.17, offset 0.46
        ("The vehicle is above the ship", [5]),
    ],
)
def test_hand_made_scene(expression, expected):
    assert resolve(expression, SCENE, S) == expected


def test_resolution_clear_and_unambiguous():
    r = resolve_detailed("The second storage tank from the left", SCENE, S)
    assert r.possible == r.clear == [1]
    assert r.unambiguous
    tie = resolve_detailed("the tank that is first from the top", SCENE, S)
    assert tie.possible == [0, 3] and tie.clear == [] and not tie.unambiguous
    ops = [s["op"] for s in r.steps]
    assert ops == ["category", "ordinal", "result"]
    json.dumps(r.steps)  # JSON-able


def test_absolute_cell_margin():
    """A centre closer than the margin (4 % of the side) to a cell border is only possibly
    in the cell: the expression is ambiguous between the two cells' objects."""
    near_border = [obj("storagetank", 90, 10, 114, 34), obj("storagetank", 150, 150, 170, 170)]
    r = resolve_detailed("The tank in the upper left", near_border, S)  # centre x 102
    assert r.possible == [0] and r.clear == []
    r = resolve_detailed("The tank at the top", near_border, S)
    assert r.possible == [0] and r.clear == []
    clear = [obj("storagetank", 40, 10, 64, 34), obj("storagetank", 150, 150, 170, 170)]
    assert resolve_detailed("The tank in the upper left", clear, S).unambiguous


def test_ordinal_margin():
    """Centres closer than half the mean width are tied; far enough apart they are ranked."""
    close = [obj("ship", 100, 50, 140, 60), obj("ship", 110, 150, 150, 160)]  # dx 10 < 20
    assert resolve("the leftmost ship", close, S) == [0, 1]
    apart = [obj("ship", 100, 50, 140, 60), obj("ship", 125, 150, 165, 160)]  # dx 25 >= 20
    assert resolve("the leftmost ship", apart, S) == [0]
    assert resolve("the second ship from the left", apart, S) == [1]


def test_size_ratio():
    """'large' needs an area ratio of 1.6 against every other; 'largest' 1.3."""
    a = [obj("storagetank", 0, 0, 10, 10, area=100), obj("storagetank", 50, 50, 60, 60, area=140)]
    assert resolve("the largest tank", a, S) == [1]
    assert resolve("the large tank", a, S) == [0, 1]
    b = [obj("storagetank", 0, 0, 10, 10, area=100), obj("storagetank", 50, 50, 60, 60, area=170)]
    assert resolve("the large tank", b, S) == [1]


def test_relation_cone_and_near():
    anchor = obj("bridge", 140, 140, 160, 160)
    diag = obj("vehicle", 80, 85, 90, 95)  # dx -60, dy -60: 45° — possible, not clear
    assert resolve_detailed("The vehicle to the left of the bridge", [anchor, diag], S).clear == []
    assert resolve("The vehicle to the left of the bridge", [anchor, diag], S) == [1]
    flat = obj("vehicle", 80, 145, 90, 150)
    assert resolve_detailed("The vehicle to the left of the bridge", [anchor, flat], S).unambiguous
    # near: the nearest must be clearly nearer than the next (2x + 5 % of the side)
    v1, v2 = obj("vehicle", 165, 145, 175, 150), obj("vehicle", 180, 145, 190, 150)  # gaps 5, 20
    assert resolve("The vehicle next to the bridge", [anchor, v1, v2], S) == [1, 2]
    v3 = obj("vehicle", 240, 145, 250, 150)  # gap 80
    assert resolve("The vehicle next to the bridge", [anchor, v1, v3], S) == [1]


def test_ambiguous_anchor_makes_nothing_clear():
    scene = [
        obj("bridge", 10, 10, 30, 30),
        obj("bridge", 200, 10, 220, 30),
        obj("ship", 100, 15, 120, 25),
    ]
    r = resolve_detailed("The ship to the right of the bridge", scene, S)
    assert r.possible == [2] and r.clear == [] and not r.unambiguous


def test_between_two_of_a_class():
    scene = [
        obj("windmill", 10, 140, 30, 160),
        obj("windmill", 270, 140, 290, 160),
        obj("vehicle", 145, 145, 155, 150),
        obj("vehicle", 145, 2, 155, 7),  # offset 0.56 of the span: not between
    ]
    assert resolve("The vehicle between the two windmills", scene, S) == [2]
    assert resolve("the car between the two wind turbines", scene, S) == [2]


# ----------------------------------------------------------------------------- vocabulary


def test_vocabulary_classes():
    """One table: every class's main noun is its name; the grammar reads the nouns of the
    synthetic classes; the language prior's words are the 20 DIOR classes' nouns and more."""
    assert len(vocabulary.DIOR_CLASSES) == 20 and "building" not in vocabulary.DIOR_CLASSES
    for c in vocabulary.CLASSES.values():
        assert c.nouns[0][0] == c.name and c.words[0] == c.name
    assert list(CLASS_NOUNS) == list(vocabulary.SYNTHETIC_CLASSES)
    assert set(vocabulary.SYNTHETIC_CLASSES) <= set(vocabulary.DIOR_CLASSES)
    assert vocabulary.CLASS_NOUNS["storagetank"][0] == ("storage tank", "storage tanks")
    assert vocabulary.DIOR_CLASS_WORDS["storage tank"] == ("storage tank", "oil tank", "tank")
    assert list(vocabulary.DIOR_CLASS_WORDS) == sorted(vocabulary.DIOR_CLASS_WORDS)
    for cat, pairs in CLASS_NOUNS.items():
        for singular, _ in pairs:
            assert parse_expression(f"the {singular}").head.category == cat


# ----------------------------------------------------------------------------- grammar


def test_parse_examples():
    q = parse_expression("The vehicle is on the left of the tank in the upper right")
    assert q.relation == "left" and q.head.category == "vehicle"
    assert q.anchors[0].category == "storagetank" and q.anchors[0].cell == (0, 2)
    assert q.cue == "relative"
    q = parse_expression("the 3rd ship counting from the bottom")
    assert q.head.order == ("bottom", 3) and q.cue == "ordinal"
    assert parse_expression("A tank on the left side of the image").head.cell == (1, 0)
    assert parse_expression("the plane in the upper middle").head.cell == (0, 1)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "the golf course",  # no known class
        "the shiny tank",  # unknown modifier
        "the tank somewhere over there",  # unreadable tail
        "the second tank",  # ordinal without 'from the ...'
        "the tanks",  # plural head
        "the tank in the upper lower",  # contradictory position words
    ],
)
def test_parse_errors_are_value_errors(bad):
    with pytest.raises(ValueError):
        parse_expression(bad)


def test_bad_inputs():
    with pytest.raises(ValueError, match="category"):
        resolve("the tank", [{"bbox": [0, 0, 1, 1]}], S)
    with pytest.raises(ValueError, match="image_size"):
        resolve("the tank", TANKS, (0, 10))
    with pytest.raises(ValueError, match="cue"):
        ex.generate_expression(TANKS, 0, "colour", S, np.random.default_rng(0))
    with pytest.raises(ValueError, match="unknown cue"):
        ex.check_cue_mix({"position": 1.0})
    with pytest.raises(ValueError, match=">= 0"):
        ex.check_cue_mix({"absolute": -1.0})
    with pytest.raises(ValueError, match="> 0"):
        ex.check_cue_mix({"absolute": 0.0})
    assert ex.check_cue_mix({"absolute": 2, "ordinal": 2}) == {"absolute": 0.5, "ordinal": 0.5}


def test_realise_parse_round_trip_and_tags():
    """Every template of every cue parses back to the same meaning, and the cue tagger
    finds the intended cue (phrasings it misses would be listed here)."""
    rng = np.random.default_rng(0)
    misses = Counter()
    total = 0
    queries = []
    for cat in CLASS_NOUNS:
        queries += [Query(NounPhrase(cat))]
        queries += [Query(NounPhrase(cat, cell=c)) for c in CELL_NAMES]
        queries += [Query(NounPhrase(cat, order=(s, r))) for s in SIDES for r in (1, 2, 3, 5)]
        queries += [
            Query(NounPhrase(cat, extreme=e))
            for e in ("left", "right", "top", "bottom", "largest", "smallest")
        ]
        queries += [Query(NounPhrase(cat, size=z)) for z in ("large", "small")]
        queries += [Query(NounPhrase(cat, color=c)) for c in COLOR_NAMES]
        for rel in ("left", "right", "above", "below", "near"):
            queries.append(Query(NounPhrase(cat), rel, (NounPhrase("bridge", color="gray"),)))
            queries.append(Query(NounPhrase(cat), rel, (NounPhrase("windmill", cell=(2, 0)),)))
        queries.append(Query(NounPhrase(cat), "between", (NounPhrase("ship", count=2),)))
        queries.append(
            Query(
                NounPhrase(cat),
                "between",
                (NounPhrase("bridge"), NounPhrase("ship", size="large")),
            )
        )
    for q in queries:
        for _ in range(6):
            text = ex.realise(q, rng)
            parsed = parse_expression(text)
            assert parsed.same_meaning(q), (text, q, parsed)
            if tag_cues is not None:
                total += 1
                if q.cue not in tag_cues(text):
                    misses[(q.cue, text)] += 1
    assert total == 0 or not misses, sorted(misses)[:20]


# ----------------------------------------------------------------------------- generated


def _generated(n, seed, sizes=(112, 168, 224)):
    records = []
    stats = sy.GenerationStats()
    for k, size in enumerate(sizes):
        count = n // len(sizes) + (1 if k < n % len(sizes) else 0)
        recs, st = sy.make_records(count, seed=seed + k, image_size=size, render=False)
        records += recs
        stats.add(st)
    return records, stats


@pytest.fixture(scope="module")
def generated():
    return _generated(900, seed=100)


def _check_records(records):
    for rec in records:
        objects, size = rec["objects"], (rec["width"], rec["height"])
        r = resolve_detailed(rec["expression"], objects, size)
        assert r.possible == [rec["target_index"]], rec["expression"]
        assert r.unambiguous, rec["expression"]
        assert objects[rec["target_index"]]["bbox"] == rec["bbox"]
        assert r.query.cue == rec["cue_type"], rec["expression"]
        assert json.loads(rec["resolver_steps"]) == r.steps
        if tag_cues is not None:
            assert rec["cue_type"] in tag_cues(rec["expression"]), rec["expression"]
            assert rec["cues"] == tag_cues(rec["expression"])


def test_generated_expressions_resolve_to_their_target(generated):
    records, stats = generated
    assert len(records) == 900
    _check_records(records)
    assert stats.fallbacks <= 0.01 * len(records)


@pytest.mark.slow
def test_generated_expressions_resolve_to_their_target_large():
    records, _ = _generated(6000, seed=7000, sizes=(112, 160, 224, 320))
    _check_records(records)


def test_default_cue_mix_is_respected(generated):
    records, _ = generated
    n = len(records)
    shares = {c: v / n for c, v in Counter(r["cue_type"] for r in records).items()}
    for cue, weight in ex.DEFAULT_CUE_MIX.items():
        assert abs(shares.get(cue, 0.0) - weight) < 0.05, (cue, shares)


def test_custom_cue_mix_is_respected():
    mix = {"ordinal": 3, "color": 1}
    n = 160
    records, stats = sy.make_records(n, seed=9, image_size=160, cue_mix=mix, render=False)
    counts = Counter(r["cue_type"] for r in records)
    assert set(counts) <= {"ordinal", "color", "none"}
    assert abs(counts["ordinal"] / n - 0.75) < 0.1
    assert abs(counts["color"] / n - 0.25) < 0.1
    assert sum(stats.kept.values()) == n
    assert stats.intended["ordinal"] + stats.intended["color"] == n


def test_generation_counts_rejections():
    rng = np.random.default_rng(3)
    # two tanks in the same cell: the absolute cue must be rejected
    scene = [obj("storagetank", 10, 10, 30, 30), obj("storagetank", 40, 40, 60, 60)]
    g = ex.generate_expression(scene, 0, "absolute", S, rng)
    assert g.expression is None and g.tried == g.rejected == 1
    g = ex.generate_expression(scene, 0, "extreme", S, rng)
    assert g.expression is not None and resolve(g.expression, scene, S) == [0]
    assert g.tried == g.rejected + 1
