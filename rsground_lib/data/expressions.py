"""Referring expressions for synthetic scenes: the generator.

Stage 1 of RSGround-R1 trains on "synthetic RSVG reasoning data that establishes explicit
position awareness". This module writes the sentences of that data: for a target object of a
scene it produces an expression that singles the target out with one kind of positional cue
(the cue tags of :data:`rsground_lib.vocabulary.CUE_TAGS`, as :mod:`rsground_lib.data.cues`
tags them):

``absolute``  a cell of the 3×3 grid: "the tank in the upper left", "a ship at the top"
``relative``  with respect to another object: "the ship to the left of the bridge",
              "the vehicle next to the storage tank", "the tank between the two windmills"
``ordinal``   counting: "the second storage tank from the left"
``extreme``   a superlative: "the leftmost airplane", "the largest storage tank"
``size``      "the large tank" (sizes clearly differ)
``color``     "the red vehicle" (colours differ)
``none``      the class alone: "the bridge" (the target is the only one of its class)

It proposes structured descriptions of the target (:func:`candidate_queries`, a
:class:`~rsground_lib.data.grammar.Query` each), writes each in one of several templates
(:func:`realise`: synonyms, word order, articles) and keeps the first sentence whose TEXT the
resolver (:mod:`rsground_lib.data.resolver`) finds unambiguous and pointing at the target;
otherwise it tries another template, cue value or anchor and counts the rejection
(:func:`generate_expression`). The cue taxonomy is the paper's ("synthetic RSVG reasoning
data that establishes explicit position awareness"); the templates and the
generate-and-verify loop are our design.
Book chapter: "Data".
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from rsground_lib.data.grammar import (
    ORDINAL_WORDS,
    SIDES,
    NounPhrase,
    Query,
    np_cue,
    parse_expression,
)
from rsground_lib.data.resolver import (
    DEFAULT_RULES,
    GeometryRules,
    Resolution,
    SceneView,
    box_gap,
    cell_of,
    evaluate_in_view,
    evaluate_noun_phrase,
    rank_axis,
)
from rsground_lib.vocabulary import CLASS_NOUNS, COLOR_NAMES, CUE_TAGS

DEFAULT_CUE_MIX: dict[str, float] = {
    "absolute": 0.30,
    "relative": 0.20,
    "ordinal": 0.15,
    "extreme": 0.15,
    "size": 0.08,
    "color": 0.08,
    "none": 0.04,
}
"""Default cue weights of the generator (our design): absolute cues dominate real data
(DIOR-RSVG train: 72 % of the expressions carry one), and ordinal/extreme cues, almost absent
from DIOR-RSVG, are what "explicit position awareness" most needs."""

# --------------------------------------------------------------------------- realisation


_ROW_WORDS = {0: ("upper", "top"), 2: ("lower", "bottom")}


def _pick(rng: np.random.Generator, options: Sequence[str]) -> str:
    return options[int(rng.integers(len(options)))]


def _noun(category: str, rng: np.random.Generator, plural: bool = False) -> str:
    pairs = CLASS_NOUNS[category]
    k = 0 if len(pairs) == 1 or rng.random() < 0.55 else int(rng.integers(1, len(pairs)))
    return pairs[k][1 if plural else 0]


def _article(word: str, rng: np.random.Generator, indefinite_p: float) -> str:
    if rng.random() < indefinite_p:
        return "an" if word[0] in "aeiou" else "a"
    return "the"


def _color_word(color: str, rng: np.random.Generator) -> str:
    return "grey" if color == "gray" and rng.random() < 0.5 else color


def _loc_phrase(cell: tuple[int, int], rng: np.random.Generator) -> str:
    r, c = cell
    img = _pick(rng, ("image", "image", "picture", "scene"))
    if r != 1 and c != 1:
        row = _pick(rng, _ROW_WORDS[r])
        col = "left" if c == 0 else "right"
        sep = "-" if rng.random() < 0.3 else " "
        return _pick(
            rng,
            (
                f"in the {row}{sep}{col}",
                f"on the {row}{sep}{col}",
                f"in the {row}{sep}{col} corner",
                f"at the {row}{sep}{col} of the {img}",
                f"in the {row}{sep}{col} part of the {img}",
                f"in the {row}{sep}{col} corner of the {img}",
            ),
        )
    if r != 1:
        edge = "top" if r == 0 else "bottom"
        row = _pick(rng, _ROW_WORDS[r])
        mid = _pick(rng, ("middle", "center", "centre"))
        return _pick(
            rng,
            (
                f"at the {edge}",
                f"on the {edge}",
                f"at the {edge} of the {img}",
                f"in the {row} {mid}",
                f"in the {row} {mid} part of the {img}",
            ),
        )
    if c != 1:
        col = "left" if c == 0 else "right"
        return _pick(
            rng,
            (
                f"on the {col}",
                f"on the {col} side",
                f"on the {col} side of the {img}",
                f"at the {col} of the {img}",
                f"in the middle {col} part of the {img}",
            ),
        )
    mid = _pick(rng, ("center", "centre", "middle"))
    return _pick(
        rng,
        (
            f"in the {mid}",
            f"in the {mid} of the {img}",
            f"at the {mid} of the {img}",
            "in the central part of the " + img,
        ),
    )


def realise_np(np_: NounPhrase, rng: np.random.Generator, *, indefinite_p: float = 0.0) -> str:
    """Write a noun phrase in one of several templates (synonyms, word order, articles).

    Supports the one-cue phrases the generator builds (plus colour/size/cell combinations).
    Avoids "small vehicle"/"large vehicle", which are DOTA class names that the cue tagger
    does not count as size. Our design.
    """
    cat = np_.category
    if np_.count == 2:
        return f"the two {_noun(cat, rng, plural=True)}"
    noun = _noun(cat, rng)
    pre: list[str] = []
    post: list[str] = []
    if np_.order is not None:
        side, rank = np_.order
        word = ORDINAL_WORDS[rank][0 if rng.random() < 0.85 else 1]
        style = int(rng.integers(4))
        if style == 0:
            pre.append(word)
            post.append(f"from the {side}")
        elif style == 1:
            post.append(f"that is {word} from the {side}")
        elif style == 2:
            pre.append(word)
            post.append(f"counting from the {side}")
        else:
            pre.append(word)
            post.append(f"from the {side} of the image")
    if np_.extreme is not None:
        side = np_.extreme
        options: list[tuple[str, str]] = {
            "left": [
                ("leftmost", ""),
                ("left-most", ""),
                ("", "farthest to the left"),
                ("", "furthest to the left"),
                ("", "closest to the left edge of the image"),
            ],
            "right": [
                ("rightmost", ""),
                ("right-most", ""),
                ("", "farthest to the right"),
                ("", "furthest to the right"),
                ("", "closest to the right edge of the image"),
            ],
            "top": [
                ("topmost", ""),
                ("uppermost", ""),
                ("top-most", ""),
                ("", "closest to the top edge of the image"),
            ],
            "bottom": [
                ("bottommost", ""),
                ("lowermost", ""),
                ("lowest", ""),
                ("", "closest to the bottom edge of the image"),
            ],
            "largest": [("largest", ""), ("biggest", "")],
            "smallest": [("smallest", "")],
        }[side]
        a, b = options[int(rng.integers(len(options)))]
        if a:
            pre.append(a)
        if b:
            post.append(b)
    if np_.size is not None:
        words = ("large", "big") if np_.size == "large" else ("small",)
        adj = _pick(rng, words)
        if noun == "vehicle" and adj in ("small", "large"):
            noun = "car"
        pre.append(adj)
    if np_.color is not None:
        cw = _color_word(np_.color, rng)
        style = int(rng.integers(5))
        if style <= 1:
            pre.append(cw)
        elif style == 2:
            pre.append(f"{cw}-{_pick(rng, ('colored', 'coloured'))}")
        elif style == 3:
            post.append(f"that is {cw}")
        else:
            post.append(f"painted {cw}" if rng.random() < 0.5 else f"in {cw}")
    if np_.cell is not None:
        loc = _loc_phrase(np_.cell, rng)
        if rng.random() < 0.15:
            loc = f"located {loc}"
        post.append(loc)
    first = (pre[0] if pre else noun).lstrip()
    article = "the"
    if np_.order is None and np_.extreme is None and np_.size is None:
        article = _article(first, rng, indefinite_p)
    return " ".join([article, *pre, noun, *post])


_REL_WORDS: dict[str, tuple[str, ...]] = {
    "left": ("to the left of", "on the left of", "on the left side of"),
    "right": ("to the right of", "on the right of", "on the right side of"),
    "above": ("above",),
    "below": ("below",),
    "near": ("next to", "near", "beside", "close to"),
    "between": ("between",),
}


def realise(query: Query, rng: np.random.Generator) -> str:
    """Write a :class:`~rsground_lib.data.grammar.Query` as an English sentence, picking a
    template at random (seeded by ``rng``). The first letter is capitalised, as in DIOR-RSVG. Our design."""
    if query.relation is None:
        indefinite = 0.3 if np_cue(query.head) in ("absolute", "none") else 0.0
        text = realise_np(query.head, rng, indefinite_p=indefinite)
    else:
        head = realise_np(query.head, rng, indefinite_p=0.3)
        rel = _pick(rng, _REL_WORDS[query.relation])
        if query.relation == "between" and len(query.anchors) == 2:
            anchor = f"{realise_np(query.anchors[0], rng)} and {realise_np(query.anchors[1], rng)}"
        else:
            anchor = realise_np(query.anchors[0], rng)
        link = _pick(rng, ("", "", "that is ", "is ", "located "))
        text = f"{head} {link}{rel} {anchor}"
    return text[0].upper() + text[1:]


# --------------------------------------------------------------------------- generation


@dataclass
class GeneratedExpression:
    """The generator's answer for one (target, cue): the kept ``expression`` (or ``None``),
    its :class:`~rsground_lib.data.resolver.Resolution`, and how many candidate sentences
    were ``tried`` and ``rejected`` by the resolver."""

    cue: str
    target: int
    expression: str | None = None
    resolution: Resolution | None = None
    query: Query | None = None
    tried: int = 0
    rejected: int = 0


def _rank_of(view: SceneView, members: list[int], t: int, side: str) -> int:
    coord, _, _, descending = rank_axis(view, side)
    if descending:
        return 1 + sum(1 for i in members if i != t and coord[i] > coord[t])
    return 1 + sum(1 for i in members if i != t and coord[i] < coord[t])


def _anchor_phrases(view: SceneView, a: int, rules: GeometryRules, rng: np.random.Generator):
    """Noun phrases that single out object ``a`` on their own (checked, not counted)."""
    cat = view.cat[a]
    options = [NounPhrase(cat)]
    if view.color[a] in COLOR_NAMES:
        options.append(NounPhrase(cat, color=view.color[a]))
    options.append(NounPhrase(cat, cell=cell_of(view.cx[a], view.cy[a], (view.width, view.height))))
    same = [i for i in range(view.n) if view.cat[i] == cat]
    if len(same) >= 2:
        if view.area[a] == max(view.area[i] for i in same):
            options.append(NounPhrase(cat, size="large"))
        if view.area[a] == min(view.area[i] for i in same):
            options.append(NounPhrase(cat, size="small"))
    good = []
    for np_ in options:
        p, c, _ = evaluate_noun_phrase(np_, view, rules)
        if p == c == [a]:
            good.append(np_)
    if not good:
        return []
    # prefer the bare class when it is unique, else a random single cue
    if good[0].color is None and good[0].cell is None and good[0].size is None:
        return [good[0]] + [g for g in good[1:] if rng.random() < 0.3]
    order = rng.permutation(len(good))
    return [good[k] for k in order]


def candidate_queries(
    view_or_objects,
    target: int,
    cue: str,
    image_size=None,
    *,
    rng: np.random.Generator,
    rules: GeometryRules = DEFAULT_RULES,
) -> list[Query]:
    """The structured descriptions the generator proposes for ``target`` with ``cue`` — taken
    from the target's geometry without the margins (the resolver judges them afterwards). Our design."""
    view = (
        view_or_objects
        if isinstance(view_or_objects, SceneView)
        else SceneView(view_or_objects, image_size)
    )
    if cue not in CUE_TAGS:
        raise ValueError(f"cue: expected one of {CUE_TAGS}; got {cue!r}")
    if not 0 <= target < view.n:
        raise ValueError(f"target: expected an object index in [0, {view.n}); got {target}")
    cat = view.cat[target]
    members = [i for i in range(view.n) if view.cat[i] == cat]
    out: list[Query] = []
    if cue in ("ordinal", "extreme", "size") and len(members) < 2:
        return out  # one instance: nothing to rank or compare
    if cue == "none":
        if len(members) == 1:
            out.append(Query(NounPhrase(cat)))
    elif cue == "absolute":
        out.append(
            Query(
                NounPhrase(
                    cat, cell=cell_of(view.cx[target], view.cy[target], (view.width, view.height))
                )
            )
        )
    elif cue == "color":
        if view.color[target] in COLOR_NAMES:
            out.append(Query(NounPhrase(cat, color=view.color[target])))
    elif cue == "size":
        areas = [view.area[i] for i in members]
        if len(members) >= 2 and view.area[target] == max(areas):
            out.append(Query(NounPhrase(cat, size="large")))
        if len(members) >= 2 and view.area[target] == min(areas):
            out.append(Query(NounPhrase(cat, size="small")))
    elif cue == "extreme":
        for side in SIDES:
            if _rank_of(view, members, target, side) == 1:
                out.append(Query(NounPhrase(cat, extreme=side)))
        if len(members) >= 2:
            areas = [view.area[i] for i in members]
            if view.area[target] == max(areas):
                out.append(Query(NounPhrase(cat, extreme="largest")))
            if view.area[target] == min(areas):
                out.append(Query(NounPhrase(cat, extreme="smallest")))
        out = [out[k] for k in rng.permutation(len(out))]
    elif cue == "ordinal":
        ranked = []
        for side in SIDES:
            rank = _rank_of(view, members, target, side)
            if rank <= max(ORDINAL_WORDS):
                ranked.append(Query(NounPhrase(cat, order=(side, rank))))
        ranked = [ranked[k] for k in rng.permutation(len(ranked))]
        # rank 1 is what "extreme" is for; keep it as an ordinal of last resort
        out = [q for q in ranked if q.head.order[1] > 1] + [
            q for q in ranked if q.head.order[1] == 1
        ]
    elif cue == "relative":
        out = _relative_queries(view, target, rng, rules)
    return out


def _relative_queries(view: SceneView, t: int, rng: np.random.Generator, rules: GeometryRules):
    cat = view.cat[t]
    side = min(view.width, view.height)
    others = [i for i in range(view.n) if i != t]
    # nearer anchors first, with some randomness
    others.sort(key=lambda i: box_gap(view, t, i) * (0.7 + 0.6 * rng.random()))
    out: list[Query] = []
    for a in others[:4]:
        phrases = _anchor_phrases(view, a, rules, rng)
        if not phrases:
            continue
        dx, dy = view.cx[t] - view.cx[a], view.cy[t] - view.cy[a]
        if abs(dx) >= abs(dy):
            direction = "left" if dx < 0 else "right"
        else:
            direction = "above" if dy < 0 else "below"
        rels = [direction]
        if box_gap(view, t, a) <= rules.near_clear_frac * side:
            rels.append("near")
        rel = rels[int(rng.integers(len(rels)))]
        out.append(Query(NounPhrase(cat), rel, (phrases[0],)))
        if len(rels) == 2:
            out.append(Query(NounPhrase(cat), [r for r in rels if r != rel][0], (phrases[0],)))
    # between: two anchors on either side of the target
    pairs = []
    for k, a in enumerate(others[:5]):
        for b in others[k + 1 : 5]:
            vx, vy = view.cx[b] - view.cx[a], view.cy[b] - view.cy[a]
            l2 = vx * vx + vy * vy
            if l2 <= 0:
                continue
            tt = ((view.cx[t] - view.cx[a]) * vx + (view.cy[t] - view.cy[a]) * vy) / l2
            if 0.25 <= tt <= 0.75:
                pairs.append((a, b))
    for a, b in pairs[:2]:
        if view.cat[a] == view.cat[b] and view.cat[a] != cat:
            same = [i for i in range(view.n) if view.cat[i] == view.cat[a]]
            if len(same) == 2:
                out.append(Query(NounPhrase(cat), "between", (NounPhrase(view.cat[a], count=2),)))
                continue
        pa, pb = _anchor_phrases(view, a, rules, rng), _anchor_phrases(view, b, rules, rng)
        if pa and pb:
            out.append(Query(NounPhrase(cat), "between", (pa[0], pb[0])))
    if len(out) > 1:
        first = out[:1]
        rest = [out[k] for k in (1 + rng.permutation(len(out) - 1))]
        out = first + rest if rng.random() < 0.5 else rest + first
    return out


def generate_expression(
    objects: Sequence[Mapping],
    target: int,
    cue: str,
    image_size,
    rng: np.random.Generator,
    *,
    rules: GeometryRules = DEFAULT_RULES,
    max_tries: int = 8,
) -> GeneratedExpression:
    """Write an expression that singles out ``objects[target]`` with the given cue.

    Proposes structured descriptions (:func:`candidate_queries`), writes each in a random
    template (:func:`realise`) and keeps the first sentence whose TEXT the resolver finds
    unambiguous and pointing at the target (:func:`~rsground_lib.data.resolver.resolve_detailed`);
    every other sentence counts as a rejection. At most ``max_tries`` sentences are tried.
    ``expression`` is ``None`` when none was kept.
    The paper asks for position-aware synthetic data, the
    generate-and-verify loop is our design.
    """
    if cue not in CUE_TAGS:
        raise ValueError(f"cue: expected one of {CUE_TAGS}; got {cue!r}")
    view = SceneView(objects, image_size)
    out = GeneratedExpression(cue=cue, target=target)
    for query in candidate_queries(view, target, cue, rng=rng, rules=rules):
        if out.tried >= max_tries:
            break
        text = realise(query, rng)
        out.tried += 1
        resolution = evaluate_in_view(parse_expression(text), view, rules)
        if resolution.unambiguous and resolution.possible == [target]:
            out.expression, out.resolution, out.query = text, resolution, query
            return out
        out.rejected += 1
    return out


def check_cue_mix(cue_mix: Mapping[str, float] | None) -> dict[str, float]:
    """Validate a cue mix (cue → non-negative weight) and normalise it to sum 1.

    ``None`` gives :data:`DEFAULT_CUE_MIX`. ValueError for unknown cues, negative or
    non-finite weights, or an all-zero mix. Our design."""
    if cue_mix is None:
        cue_mix = DEFAULT_CUE_MIX
    if not isinstance(cue_mix, Mapping):
        raise ValueError(f"cue_mix: expected a dict cue → weight; got {type(cue_mix).__name__}")
    unknown = [k for k in cue_mix if k not in CUE_TAGS]
    if unknown:
        raise ValueError(f"cue_mix: unknown cue(s) {unknown}; expected keys from {CUE_TAGS}")
    try:
        weights = {k: float(v) for k, v in cue_mix.items()}
    except (TypeError, ValueError) as exc:
        raise ValueError(f"cue_mix: expected numeric weights; got {dict(cue_mix)!r}") from exc
    if any(not math.isfinite(v) or v < 0 for v in weights.values()):
        raise ValueError(f"cue_mix: weights must be finite and >= 0; got {weights}")
    total = sum(weights.values())
    if total <= 0:
        raise ValueError(f"cue_mix: at least one weight must be > 0; got {weights}")
    return {k: v / total for k, v in weights.items() if v > 0}
