"""Referring expressions for synthetic scenes, and the resolver that reads them back.

Stage 1 of RSGround-R1 trains on "synthetic RSVG reasoning data that establishes explicit
position awareness". This module writes the sentences of that data: for a target object of a
scene it produces an expression that singles the target out with one kind of positional cue
(the taxonomy of the design notes and of :mod:`rsground_lib.data.cues`):

``absolute``  a cell of the 3×3 grid: "the tank in the upper left", "a ship at the top"
``relative``  with respect to another object: "the ship to the left of the bridge",
              "the vehicle next to the storage tank", "the tank between the two windmills"
``ordinal``   counting: "the second storage tank from the left"
``extreme``   a superlative: "the leftmost airplane", "the largest storage tank"
``size``      "the large tank" (sizes clearly differ)
``color``     "the red vehicle" (colours differ)
``none``      the class alone: "the bridge" (the target is the only one of its class)

Every expression is checked by the **resolver** (:func:`resolve`), which parses the TEXT with
its own small grammar (:func:`parse_expression`) — it never sees the generator's structured
query — and evaluates it against the scene's objects. An expression is kept only if it is
*unambiguous*: exactly one object may match, and that object matches clearly (see
:class:`Resolution`). Otherwise the generator tries another template, cue value or anchor and
counts the rejection. Book chapter: "Data" (``book/02_data.py``); the cue taxonomy is the
paper's ("synthetic RSVG reasoning data that establishes explicit position awareness"), the
geometry rules below are our design.

Geometry rules (:class:`GeometryRules`; all in the pixels of the original image, boxes in the
continuous convention, centre = box centre, area = the object's ``area_px`` when present, else
its box area). Each rule says when an object *possibly* matches a phrase and when it *clearly*
matches; possible ⊇ clear, and the margins make "clear for one" imply "possible for no other":

* **absolute** — the image is cut into a 3×3 grid of equal cells; an object is clearly in the
  cell that contains its centre when the centre is at least ``cell_margin_frac`` × the image
  side away from the cell's inner borders; it is possibly in every cell that the centre ± that
  margin touches. "the tank in the upper left" is unambiguous when one tank is clearly there
  and no other tank possibly is.
* **ordinal / extreme by position** — objects are ranked by centre x ("from the left"/"right")
  or centre y ("from the top"/"bottom"). Object i is *clearly before* j when their centres
  differ by at least ``max(order_margin_frac × mean extent of the pair along the axis,
  order_margin_min_frac × image side)``. An object's possible ranks run from 1 + (number
  clearly before it) to 1 + (number not clearly after it); it clearly has rank r when that
  range is [r, r]. This relation is transitive, so a clear rank is never shared.
  "leftmost"/"topmost"… are rank 1.
* **size and extreme by size** — "the largest X" ranks by area with *clearly larger* meaning
  ``area ≥ extreme_area_ratio × other area``; "the large X" / "the small X" demand the stronger
  ``size_area_ratio`` against every other instance.
* **colour** — exact match of the colour name (``grey`` = ``gray``).
* **relative direction** ("left of", "right of", "above", "below" the anchor) — clearly: the
  boxes overlap along the axis by at most ``direction_overlap_frac`` × the smaller extent and
  the centre-to-centre direction is within ``direction_clear_deg`` of the axis; possibly: the
  centre is on that side and within ``direction_possible_deg`` of the axis.
* **near** ("next to", "near", "beside", "close to") — box-to-box gap g. Clearly near: g ≤
  ``near_clear_frac`` × image side and every other candidate's gap ≥ ``near_ratio`` × g +
  ``near_margin_frac`` × side; possibly near: g ≤ ``near_possible_frac`` × side and no other
  candidate is clearly nearer in that sense.
* **between** two anchors A and B — project the centre on segment AB (t in [0, 1]) and measure
  the perpendicular offset p: clearly between when ``between_clear_t`` ≤ t ≤ 1 − that and p ≤
  ``between_clear_offset`` × |AB|; possibly when 0 < t < 1 and p ≤ ``between_possible_offset``
  × |AB|.
* **anchors** must themselves be unambiguous (unique by class, or by their own colour, size or
  absolute cue); with an ambiguous anchor nothing is clear.

Several cues in one noun phrase are applied in this order, each on the survivors of the
previous: class → colour → absolute cell → size → extreme/ordinal → relation. Ranking on a set
that is only *possibly* right gives no clear match (conservative).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

CUES: tuple[str, ...] = ("absolute", "relative", "ordinal", "extreme", "size", "color", "none")
"""The positional-cue kinds, the same tags as :data:`rsground_lib.data.cues.CUE_TAGS`."""

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

CLASS_NOUNS: dict[str, tuple[tuple[str, str], ...]] = {
    "storagetank": (
        ("storage tank", "storage tanks"),
        ("oil tank", "oil tanks"),
        ("tank", "tanks"),
    ),
    "vehicle": (("vehicle", "vehicles"), ("car", "cars")),
    "ship": (("ship", "ships"), ("boat", "boats"), ("vessel", "vessels")),
    "airplane": (("airplane", "airplanes"), ("plane", "planes"), ("aircraft", "aircraft")),
    "tenniscourt": (("tennis court", "tennis courts"),),
    "basketballcourt": (("basketball court", "basketball courts"),),
    "baseballfield": (
        ("baseball field", "baseball fields"),
        ("baseball diamond", "baseball diamonds"),
    ),
    "bridge": (("bridge", "bridges"),),
    "chimney": (("chimney", "chimneys"),),
    "windmill": (("windmill", "windmills"), ("wind turbine", "wind turbines")),
    "groundtrackfield": (
        ("ground track field", "ground track fields"),
        ("running track", "running tracks"),
    ),
}
"""Category (DIOR-RSVG's XML class name) → (singular, plural) nouns; the first is the main one."""

COLOR_NAMES: tuple[str, ...] = (
    "white",
    "gray",
    "black",
    "red",
    "blue",
    "green",
    "yellow",
    "orange",
    "brown",
)
"""Canonical colour names of scene objects (``grey`` is read as ``gray``)."""

ORDINAL_WORDS: dict[int, tuple[str, ...]] = {
    1: ("first", "1st"),
    2: ("second", "2nd"),
    3: ("third", "3rd"),
    4: ("fourth", "4th"),
    5: ("fifth", "5th"),
}
"""Rank → words. Ranks above 5 are not generated."""

SIDES: tuple[str, ...] = ("left", "right", "top", "bottom")
RELATIONS: tuple[str, ...] = ("left", "right", "above", "below", "near", "between")
CELL_NAMES: dict[tuple[int, int], str] = {
    (0, 0): "upper left",
    (0, 1): "top",
    (0, 2): "upper right",
    (1, 0): "left",
    (1, 1): "center",
    (1, 2): "right",
    (2, 0): "lower left",
    (2, 1): "bottom",
    (2, 2): "lower right",
}
"""(row, column) of the 3×3 grid → its plain name (rows top to bottom, columns left to right)."""


class ExpressionParseError(ValueError):
    """An expression outside the resolver's grammar (see :func:`parse_expression`). Book
    chapter: "Data"."""


@dataclass(frozen=True)
class GeometryRules:
    """The thresholds of the resolver's geometry (module docstring; our design).

    Fractions of "the image side" use the width for x and the height for y (for "near",
    the shorter side). Book chapter: "Data".
    """

    cell_margin_frac: float = 0.04
    order_margin_frac: float = 0.5
    order_margin_min_frac: float = 0.02
    size_area_ratio: float = 1.6
    extreme_area_ratio: float = 1.3
    direction_clear_deg: float = 35.0
    direction_possible_deg: float = 60.0
    direction_overlap_frac: float = 0.25
    near_clear_frac: float = 0.15
    near_possible_frac: float = 0.2
    near_ratio: float = 2.0
    near_margin_frac: float = 0.05
    between_clear_t: float = 0.2
    between_clear_offset: float = 0.3
    between_possible_offset: float = 0.5


DEFAULT_RULES = GeometryRules()


# --------------------------------------------------------------------------- parsed queries


@dataclass(frozen=True)
class NounPhrase:
    """One parsed noun phrase: a class and the cues that narrow it down.

    ``order`` is ``(side, rank)``; ``extreme`` is a side or ``"largest"``/``"smallest"``;
    ``size`` is ``"large"``/``"small"``; ``cell`` is ``(row, column)`` of the 3×3 grid;
    ``count`` is 2 for "the two tanks". ``phrases`` maps each cue to the words that carried it.
    Book chapter: "Data".
    """

    category: str
    noun: str = ""
    color: str | None = None
    size: str | None = None
    cell: tuple[int, int] | None = None
    order: tuple[str, int] | None = None
    extreme: str | None = None
    count: int | None = None
    phrases: tuple[tuple[str, str], ...] = ()

    def same_meaning(self, other: NounPhrase) -> bool:
        """Equal up to wording (noun synonym and phrases). Book chapter: "Data"."""
        return replace(self, noun="", phrases=()) == replace(other, noun="", phrases=())


@dataclass(frozen=True)
class Query:
    """A parsed expression: the head noun phrase and an optional relation to anchors.

    Book chapter: "Data"."""

    head: NounPhrase
    relation: str | None = None
    anchors: tuple[NounPhrase, ...] = ()
    relation_phrase: str = ""

    def same_meaning(self, other: Query) -> bool:
        """Equal up to wording. Book chapter: "Data"."""
        return (
            self.head.same_meaning(other.head)
            and self.relation == other.relation
            and len(self.anchors) == len(other.anchors)
            and all(a.same_meaning(b) for a, b in zip(self.anchors, other.anchors, strict=True))
        )

    @property
    def cue(self) -> str:
        """The cue that singles the head out (``relative`` when there is a relation). Book
        chapter: "Data"."""
        return "relative" if self.relation else np_cue(self.head)


def np_cue(np_: NounPhrase) -> str:
    """The main cue of a noun phrase (first of ordinal, extreme, size, colour, absolute), or
    ``"none"``. Book chapter: "Data"."""
    if np_.order is not None:
        return "ordinal"
    if np_.extreme is not None:
        return "extreme"
    if np_.size is not None:
        return "size"
    if np_.color is not None:
        return "color"
    if np_.cell is not None:
        return "absolute"
    return "none"


# --------------------------------------------------------------------------- the grammar


def _alternation(words: Iterable[str]) -> str:
    return "|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True))


_NOUN_TO_CATEGORY: dict[str, tuple[str, bool]] = {}
for _cat, _pairs in CLASS_NOUNS.items():
    for _sing, _plur in _pairs:
        _NOUN_TO_CATEGORY[_plur] = (_cat, True)
        _NOUN_TO_CATEGORY[_sing] = (_cat, False)
_NOUN_RE = re.compile(rf"\b(?:{_alternation(_NOUN_TO_CATEGORY)})\b")
_COLOR_RE_PART = _alternation(COLOR_NAMES)
_ORDINAL_TO_RANK = {w: r for r, ws in ORDINAL_WORDS.items() for w in ws}
_ORD_PART = _alternation(_ORDINAL_TO_RANK)
_EXTREME_WORDS = {
    "leftmost": "left",
    "rightmost": "right",
    "topmost": "top",
    "uppermost": "top",
    "bottommost": "bottom",
    "lowermost": "bottom",
    "lowest": "bottom",
    "largest": "largest",
    "biggest": "largest",
    "smallest": "smallest",
}
_SIZE_WORDS = {
    "large": "large",
    "big": "large",
    "larger": "large",
    "bigger": "large",
    "small": "small",
    "smaller": "small",
}
_DETERMINERS = {"the", "a", "an", "only"}
_IMAGE = r"(?: of the (?:image|picture|scene))?"
_THAT = r"(?:(?:that|which) is )?"

_POST_ORDER = re.compile(
    rf"{_THAT}(?:the )?(?:(?P<ord>{_ORD_PART}) )?(?:(?:when )?counting )?from the "
    rf"(?P<side>left|right|top|bottom)(?: (?:side|edge))?{_IMAGE}"
)
_POST_FAR = re.compile(
    rf"{_THAT}(?:the )?(?:farthest|furthest) to the (?P<side>left|right|top|bottom)"
)
_POST_EDGE = re.compile(
    rf"{_THAT}(?:the )?(?:closest|nearest) to the (?P<side>left|right|top|bottom) "
    rf"(?:edge|side|border){_IMAGE}"
)
_POST_COLOR = re.compile(
    rf"(?:(?:that|which) is |painted |in )(?P<color>{_COLOR_RE_PART})(?: colored| in color)?"
)
_LOC_WORD = r"(?:upper|top|lower|bottom|middle|center|central|left|right)"
_POST_LOC = re.compile(
    rf"(?:(?:that|which) is |located |lying |situated )?(?:in|on|at) the "
    rf"(?P<words>{_LOC_WORD}(?: {_LOC_WORD})?)"
    rf"(?: (?:corner|side|part|area|region|portion))?{_IMAGE}"
)
_REL_KEY = re.compile(
    r"\b(?:(?:is|that is|which is|located|lying|situated|parked|standing) )?"
    r"(?P<rel>(?:to|on) the (?P<lr>left|right)(?: side)? of|above|below|next to|near|beside"
    r"|close to|between) "
)


def normalize_expression(expression: str) -> str:
    """The expression as the resolver reads it: lower case, hyphens and punctuation as spaces,
    British spellings mapped (centre→center, grey→gray, colour→color), "left most" joined.

    Book chapter: "Data"."""
    if not isinstance(expression, str):
        raise ValueError(f"expression: expected a string; got {type(expression).__name__}")
    text = expression.lower()
    text = re.sub(r"[\-\u2010-\u2015_/]", " ", text)
    text = re.sub(r"[.,;:!?\"()]", " ", text)
    text = text.replace("centre", "center").replace("grey", "gray").replace("colour", "color")
    text = re.sub(r"\b(left|right|top|bottom|upper|lower) most\b", r"\1most", text)
    return re.sub(r"\s+", " ", text).strip()


def _cell_from_words(words: str, where: str) -> tuple[int, int]:
    ws = words.split()
    rows = {0 for w in ws if w in ("upper", "top")} | {2 for w in ws if w in ("lower", "bottom")}
    cols = {0 for w in ws if w == "left"} | {2 for w in ws if w == "right"}
    if len(rows) > 1 or len(cols) > 1:
        raise ExpressionParseError(f"{where}: contradictory position words {words!r}")
    return (rows.pop() if rows else 1, cols.pop() if cols else 1)


_POST_PATTERNS = (
    ("order", _POST_ORDER),
    ("far", _POST_FAR),
    ("edge", _POST_EDGE),
    ("color", _POST_COLOR),
    ("loc", _POST_LOC),
)


def _match_post(post: str):
    """The first post-modifier pattern matching at the start of ``post`` (whole words)."""
    for kind, pattern in _POST_PATTERNS:
        pm = pattern.match(post)
        if pm and (pm.end() == len(post) or post[pm.end()] == " "):
            return kind, pm
    return None, None


def _parse_np(text: str, where: str) -> NounPhrase:
    """Parse one noun phrase: ``[det] [ordinal|extreme|size|colour]* NOUN [post-modifiers]``."""
    matches = list(_NOUN_RE.finditer(text))
    if len(matches) != 1:
        raise ExpressionParseError(
            f"{where}: expected exactly one class noun in {text!r} "
            f"(known: {', '.join(sorted(_NOUN_TO_CATEGORY))}); found {len(matches)}"
        )
    m = matches[0]
    noun = m.group(0)
    category, plural = _NOUN_TO_CATEGORY[noun]
    fields: dict = {"category": category, "noun": noun}
    phrases: list[tuple[str, str]] = []
    pre = text[: m.start()].split()
    i = 0
    while i < len(pre):
        w = pre[i]
        if w in _DETERMINERS:
            pass
        elif w == "two":
            fields["count"] = 2
        elif w in _ORDINAL_TO_RANK:
            fields["_rank"] = _ORDINAL_TO_RANK[w]
            phrases.append(("ordinal", w))
        elif w in _EXTREME_WORDS:
            fields["extreme"] = _EXTREME_WORDS[w]
            phrases.append(("extreme", w))
        elif w in _SIZE_WORDS:
            fields["size"] = _SIZE_WORDS[w]
            phrases.append(("size", w))
        elif w in COLOR_NAMES:
            fields["color"] = w
            if i + 1 < len(pre) and pre[i + 1] == "colored":
                i += 1
                phrases.append(("color", f"{w} colored"))
            else:
                phrases.append(("color", w))
        else:
            raise ExpressionParseError(f"{where}: unknown word {w!r} before the noun {noun!r}")
        i += 1
    if plural and fields.get("count") != 2:
        raise ExpressionParseError(
            f"{where}: a plural noun {noun!r} needs 'the two ...'; expected a singular noun"
        )
    post = text[m.end() :].strip()
    while post:
        kind, pm = _match_post(post)
        if pm is None:
            raise ExpressionParseError(
                f"{where}: cannot read {post!r} after the noun {noun!r}; expected a position "
                "('in the upper left'), an order ('from the left'), an extreme ('farthest to "
                "the left') or a colour ('that is red')"
            )
        phrase = pm.group(0)
        if kind == "order":
            if pm.group("ord"):
                fields["_rank"] = _ORDINAL_TO_RANK[pm.group("ord")]
            if "_rank" not in fields:
                raise ExpressionParseError(f"{where}: 'from the ...' without an ordinal word")
            fields["order"] = (pm.group("side"), fields.pop("_rank"))
            phrases.append(("ordinal", phrase))
        elif kind in ("far", "edge"):
            fields["extreme"] = pm.group("side")
            phrases.append(("extreme", phrase))
        elif kind == "color":
            fields["color"] = pm.group("color")
            phrases.append(("color", phrase))
        else:
            fields["cell"] = _cell_from_words(pm.group("words").replace("central", "center"), where)
            phrases.append(("absolute", phrase))
        post = post[pm.end() :].strip()
    if "_rank" in fields:
        raise ExpressionParseError(
            f"{where}: an ordinal word needs 'from the left/right/top/bottom'"
        )
    return NounPhrase(**fields, phrases=tuple(phrases))


def parse_expression(expression: str) -> Query:
    """Parse a synthetic referring expression into a :class:`Query` — the resolver's grammar.

    Grammar (on :func:`normalize_expression`'s text)::

        expression  := np [ rel-prefix relation anchor ]
        relation    := "to/on the left (side) of" | "... right ..." | "above" | "below"
                       | "next to" | "near" | "beside" | "close to" | "between"
        anchor      := np | "the two" plural-noun | np "and" np        (the last two: between)
        np          := [det] (ordinal | extreme | size | colour ["colored"])* noun post*
        post        := [that is] [ordinal] "from the" side | "farthest/furthest to the" side
                       | "closest/nearest to the" side "edge" | "that is"/"painted"/"in" colour
                       | [that is|located] "in/on/at the" position-words [corner|side|part]
                         [of the image]

    Raises :class:`ExpressionParseError` (a ValueError) naming what it could not read.
    Book chapter: "Data"; our design.
    """
    text = normalize_expression(expression)
    where = f"expression {expression!r}"
    if not text:
        raise ExpressionParseError(f"{where}: empty")
    for km in _REL_KEY.finditer(text):
        head, rest = text[: km.start()].strip(), text[km.end() :].strip()
        if not _NOUN_RE.search(head) or not _NOUN_RE.search(rest):
            continue
        rel = km.group("rel")
        relation = (
            km.group("lr")
            if km.group("lr")
            else {"next to": "near", "beside": "near", "close to": "near"}.get(rel, rel)
        )
        head_np = _parse_np(head, where)
        if relation == "between":
            anchors = _parse_between(rest, where)
        else:
            anchors = (_parse_np(rest, where),)
            if anchors[0].count is not None:
                raise ExpressionParseError(f"{where}: only 'between' takes two anchors")
        if head_np.count is not None:
            raise ExpressionParseError(f"{where}: the described object must be singular")
        return Query(head_np, relation, anchors, rel)
    head_np = _parse_np(text, where)
    if head_np.count is not None:
        raise ExpressionParseError(f"{where}: the described object must be singular")
    return Query(head_np)


def _parse_between(rest: str, where: str) -> tuple[NounPhrase, ...]:
    if re.match(r"(?:the )?two ", rest):
        np_ = _parse_np(rest, where)
        return (np_,)
    for m in re.finditer(r" and ", rest):
        left, right = rest[: m.start()], rest[m.end() :]
        if _NOUN_RE.search(left) and _NOUN_RE.search(right):
            a, b = _parse_np(left, where), _parse_np(right, where)
            if a.count or b.count:
                raise ExpressionParseError(f"{where}: 'between A and B' takes singular anchors")
            return (a, b)
    raise ExpressionParseError(f"{where}: expected 'between the two <nouns>' or 'between A and B'")


# --------------------------------------------------------------------------- evaluation


@dataclass
class Resolution:
    """What an expression means in a scene.

    ``possible``: indices of the objects the expression may refer to (what :func:`resolve`
    returns); ``clear``: those that match every rule with its margin. The expression is
    *unambiguous* when both are the same single object. ``steps`` is the JSON-able trace of
    the evaluation (one dict per filter, see :func:`resolve_detailed`), which the CoT module
    turns into reasoning text. Book chapter: "Data".
    """

    query: Query
    possible: list[int]
    clear: list[int]
    steps: list[dict] = field(default_factory=list)

    @property
    def unambiguous(self) -> bool:
        """Exactly one object possibly matches, and it matches clearly. Book chapter: "Data"."""
        return len(self.possible) == 1 and self.possible == self.clear


class _View:
    """The scene's objects as arrays (category, colour, box, centre, size, area)."""

    def __init__(self, objects: Sequence, image_size):
        self.width, self.height = _image_size(image_size)
        cats, colors, boxes, areas = [], [], [], []
        for k, obj in enumerate(objects):
            if not isinstance(obj, Mapping):
                raise ValueError(
                    f"objects[{k}]: expected a mapping with 'category', 'bbox' (and 'color', "
                    f"'area_px'); got {type(obj).__name__}"
                )
            try:
                box = [float(v) for v in obj["bbox"]]
                cat = str(obj["category"])
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(
                    f"objects[{k}]: expected 'category' (str) and 'bbox' [x1, y1, x2, y2]; got "
                    f"{dict(obj)!r}"
                ) from exc
            if len(box) != 4 or not all(math.isfinite(v) for v in box):
                raise ValueError(f"objects[{k}]: bbox must be 4 finite numbers; got {box!r}")
            cats.append(cat)
            color = obj.get("color")
            colors.append(normalize_expression(color) if isinstance(color, str) else None)
            area = obj.get("area_px")
            boxes.append(box)
            areas.append(
                float(area)
                if area is not None and float(area) > 0
                else max(box[2] - box[0], 0.0) * max(box[3] - box[1], 0.0)
            )
        self.n = len(cats)
        self.cat = cats
        self.color = colors
        self.box = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        self.cx = (self.box[:, 0] + self.box[:, 2]) / 2
        self.cy = (self.box[:, 1] + self.box[:, 3]) / 2
        self.w = self.box[:, 2] - self.box[:, 0]
        self.h = self.box[:, 3] - self.box[:, 1]
        self.area = np.asarray(areas, dtype=np.float64)


def _image_size(image_size) -> tuple[float, float]:
    if isinstance(image_size, (int, float, np.integer, np.floating)) and not isinstance(
        image_size, bool
    ):
        w = h = float(image_size)
    else:
        try:
            w, h = (float(v) for v in image_size)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"image_size: expected a side in pixels or (width, height); got {image_size!r}"
            ) from exc
    if not (w > 0 and h > 0 and math.isfinite(w) and math.isfinite(h)):
        raise ValueError(f"image_size: expected positive finite sizes; got {image_size!r}")
    return w, h


def cell_of(cx: float, cy: float, image_size) -> tuple[int, int]:
    """The (row, column) of the 3×3 grid cell that contains the point (cx, cy).

    Book chapter: "Data"; our design."""
    w, h = _image_size(image_size)
    return (min(2, max(0, int(3 * cy // h))), min(2, max(0, int(3 * cx // w))))


def possible_cells(cx: float, cy: float, image_size, rules: GeometryRules = DEFAULT_RULES):
    """The grid cells that the point (cx, cy) ± the cell margin touches (one cell = clearly
    inside it). Book chapter: "Data"; our design."""
    w, h = _image_size(image_size)
    mx, my = rules.cell_margin_frac * w, rules.cell_margin_frac * h
    rows = sorted({cell_of(cx, y, (w, h))[0] for y in (cy - my, cy, cy + my)})
    cols = sorted({cell_of(x, cy, (w, h))[1] for x in (cx - mx, cx, cx + mx)})
    return [(r, c) for r in rows for c in cols]


def _axis(view: _View, side: str):
    """(coordinate, extent, image side, descending) for ranking from ``side``."""
    if side in ("left", "right"):
        return view.cx, view.w, view.width, side == "right"
    return view.cy, view.h, view.height, side == "bottom"


def _rank_filter(members: list[int], all_clear: bool, rank: int, before) -> tuple[list, list]:
    possible, clear = [], []
    for j in members:
        lo = sum(1 for i in members if i != j and before(i, j))
        hi = sum(1 for i in members if i != j and not before(j, i))
        if lo + 1 <= rank <= hi + 1:
            possible.append(j)
        if all_clear and lo == hi == rank - 1:
            clear.append(j)
    return possible, clear


def _position_before(view: _View, side: str, rules: GeometryRules):
    coord, extent, side_px, descending = _axis(view, side)
    sign = -1.0 if descending else 1.0

    def before(i: int, j: int) -> bool:
        margin = max(
            rules.order_margin_frac * (extent[i] + extent[j]) / 2,
            rules.order_margin_min_frac * side_px,
        )
        return sign * (coord[j] - coord[i]) >= margin

    return before


def _area_before(view: _View, largest: bool, ratio: float):
    def before(i: int, j: int) -> bool:
        if largest:
            return view.area[i] >= ratio * view.area[j]
        return view.area[j] >= ratio * view.area[i]

    return before


def _eval_np(
    np_: NounPhrase, view: _View, rules: GeometryRules, exclude: Iterable[int] = ()
) -> tuple[list[int], list[int], list[dict]]:
    excluded = set(exclude)
    members = [i for i in range(view.n) if view.cat[i] == np_.category and i not in excluded]
    possible, clear = list(members), list(members)
    steps: list[dict] = [
        {"op": "category", "category": np_.category, "noun": np_.noun, "candidates": members}
    ]
    phrase = dict(np_.phrases)
    if np_.color is not None:
        possible = [i for i in possible if view.color[i] == np_.color]
        clear = [i for i in clear if view.color[i] == np_.color]
        steps.append(
            {
                "op": "color",
                "color": np_.color,
                "phrase": phrase.get("color", np_.color),
                "colors": [[i, view.color[i]] for i in members],
                "possible": possible,
                "clear": clear,
            }
        )
    if np_.cell is not None:
        cells = {
            i: possible_cells(view.cx[i], view.cy[i], (view.width, view.height), rules)
            for i in possible
        }
        before_step = list(possible)
        possible = [i for i in possible if np_.cell in cells[i]]
        clear = [i for i in clear if i in cells and cells[i] == [np_.cell]]
        steps.append(
            {
                "op": "cell",
                "cell": list(np_.cell),
                "phrase": phrase.get("absolute", CELL_NAMES[np_.cell]),
                "cells": [
                    [i, *cell_of(view.cx[i], view.cy[i], (view.width, view.height))]
                    for i in before_step
                ],
                "possible": possible,
                "clear": clear,
            }
        )
    if np_.size is not None:
        before_fn = _area_before(view, np_.size == "large", rules.size_area_ratio)
        members_now = list(possible)
        possible, clear = _rank_filter(members_now, possible == clear, 1, before_fn)
        steps.append(
            {
                "op": "size",
                "size": np_.size,
                "phrase": phrase.get("size", np_.size),
                "areas": [[i, round(float(view.area[i]), 2)] for i in members_now],
                "ratio": rules.size_area_ratio,
                "possible": possible,
                "clear": clear,
            }
        )
    if np_.extreme is not None or np_.order is not None:
        if np_.order is not None:
            side, rank = np_.order
            cue = "ordinal"
        else:
            side, rank = np_.extreme, 1
            cue = "extreme"
        members_now = list(possible)
        if side in ("largest", "smallest"):
            before_fn = _area_before(view, side == "largest", rules.extreme_area_ratio)
            key = [float(view.area[i]) for i in members_now]
            order = [
                i for _, i in sorted(zip(key, members_now, strict=True), reverse=side == "largest")
            ]
            by = "area"
        else:
            before_fn = _position_before(view, side, rules)
            coord, _, _, descending = _axis(view, side)
            order = sorted(members_now, key=lambda i: coord[i], reverse=descending)
            by = "cx" if side in ("left", "right") else "cy"
        possible, clear = _rank_filter(members_now, possible == clear, rank, before_fn)
        steps.append(
            {
                "op": cue,
                "side": side,
                "rank": rank,
                "by": by,
                "phrase": phrase.get(cue, side),
                "sorted": order,
                "possible": possible,
                "clear": clear,
            }
        )
    return possible, clear, steps


def _gap(view: _View, i: int, j: int) -> float:
    a, b = view.box[i], view.box[j]
    dx = max(0.0, b[0] - a[2], a[0] - b[2])
    dy = max(0.0, b[1] - a[3], a[1] - b[3])
    return math.hypot(dx, dy)


def _direction(view: _View, j: int, a: int, relation: str, rules: GeometryRules):
    """(possible, clear) for "object j is <relation> anchor a"."""
    dx, dy = view.cx[j] - view.cx[a], view.cy[j] - view.cy[a]
    if relation in ("left", "right"):
        along, across = (-dx if relation == "left" else dx), abs(dy)
        bj, ba = view.box[j], view.box[a]
        overlap = (bj[2] - ba[0]) if relation == "left" else (ba[2] - bj[0])
        extent = min(view.w[j], view.w[a])
    else:
        along, across = (-dy if relation == "above" else dy), abs(dx)
        bj, ba = view.box[j], view.box[a]
        overlap = (bj[3] - ba[1]) if relation == "above" else (ba[3] - bj[1])
        extent = min(view.h[j], view.h[a])
    if along <= 0:
        return False, False
    possible = across <= along * math.tan(math.radians(rules.direction_possible_deg))
    clear = (
        across <= along * math.tan(math.radians(rules.direction_clear_deg))
        and overlap <= rules.direction_overlap_frac * extent
    )
    return possible, clear and possible


def _relation_filter(
    view: _View,
    relation: str,
    anchors: list[int],
    members: list[int],
    members_clear: bool,
    rules: GeometryRules,
) -> tuple[list[int], list[int], dict]:
    info: dict = {}
    if relation in ("left", "right", "above", "below"):
        a = anchors[0]
        res = {j: _direction(view, j, a, relation, rules) for j in members}
        possible = [j for j in members if res[j][0]]
        clear = [j for j in members if res[j][1]] if members_clear else []
        info["offsets"] = [
            [j, round(float(view.cx[j] - view.cx[a]), 2), round(float(view.cy[j] - view.cy[a]), 2)]
            for j in members
        ]
    elif relation == "near":
        a = anchors[0]
        side = min(view.width, view.height)
        gaps = {j: _gap(view, j, a) for j in members}
        margin = rules.near_margin_frac * side
        possible = [
            j
            for j in members
            if gaps[j] <= rules.near_possible_frac * side
            and not any(gaps[j] >= rules.near_ratio * gaps[i] + margin for i in members if i != j)
        ]
        clear = [
            j
            for j in members
            if members_clear
            and gaps[j] <= rules.near_clear_frac * side
            and all(gaps[i] >= rules.near_ratio * gaps[j] + margin for i in members if i != j)
        ]
        info["gaps"] = [[j, round(gaps[j], 2)] for j in members]
    elif relation == "between":
        a, b = anchors
        ax, ay, bx, by = view.cx[a], view.cy[a], view.cx[b], view.cy[b]
        vx, vy = bx - ax, by - ay
        length2 = vx * vx + vy * vy
        possible, clear, params = [], [], []
        for j in members:
            if length2 <= 0:
                continue
            px, py = view.cx[j] - ax, view.cy[j] - ay
            t = (px * vx + py * vy) / length2
            offset = abs(px * vy - py * vx) / math.sqrt(length2)
            rel_off = offset / math.sqrt(length2)
            params.append([j, round(float(t), 3), round(float(rel_off), 3)])
            if 0 < t < 1 and rel_off <= rules.between_possible_offset:
                possible.append(j)
                if (
                    members_clear
                    and rules.between_clear_t <= t <= 1 - rules.between_clear_t
                    and rel_off <= rules.between_clear_offset
                ):
                    clear.append(j)
        info["projections"] = params
    else:
        raise ValueError(f"unknown relation {relation!r}; expected one of {RELATIONS}")
    return possible, clear, info


def evaluate(
    query: Query, objects: Sequence[Mapping], image_size, rules: GeometryRules = DEFAULT_RULES
) -> Resolution:
    """Evaluate a parsed :class:`Query` against a scene's objects (the geometry rules of the
    module docstring). ``objects`` are mappings with ``category``, ``bbox`` (original pixels)
    and optionally ``color`` and ``area_px``; ``image_size`` is a side or (width, height).
    Book chapter: "Data"; our design."""
    view = _View(objects, image_size)
    return _evaluate(query, view, rules)


def _evaluate(query: Query, view: _View, rules: GeometryRules) -> Resolution:
    if query.relation is None:
        possible, clear, steps = _eval_np(query.head, view, rules)
    else:
        anchor_ids: list[int] = []
        anchor_steps: list[list[dict]] = []
        anchors_unique = True
        anchor_possible: list[list[int]] = []
        if len(query.anchors) == 1 and query.anchors[0].count == 2:
            ap, ac, st = _eval_np(replace(query.anchors[0], count=None), view, rules)
            anchor_steps.append(st)
            anchor_possible.append(ap)
            anchors_unique = len(ap) == 2 and ap == ac
            anchor_ids = ap if anchors_unique else []
        else:
            for anchor in query.anchors:
                ap, ac, st = _eval_np(anchor, view, rules)
                anchor_steps.append(st)
                anchor_possible.append(ap)
                if len(ap) == 1 and ap == ac:
                    anchor_ids.append(ap[0])
                else:
                    anchors_unique = False
        expected = 2 if query.relation == "between" else 1
        if anchors_unique and len(set(anchor_ids)) != expected:
            anchors_unique = False
        excluded = {i for ap in anchor_possible for i in ap}
        possible, clear, steps = _eval_np(query.head, view, rules, exclude=excluded)
        members = list(possible)
        if anchors_unique:
            possible, clear, info = _relation_filter(
                view, query.relation, anchor_ids, members, possible == clear, rules
            )
        else:
            # every combination of possible anchors; nothing is clear
            combos: list[list[int]] = []
            if query.relation == "between":
                pool = sorted(excluded)
                combos = [[a, b] for k, a in enumerate(pool) for b in pool[k + 1 :]]
            else:
                combos = [[a] for a in (anchor_possible[0] if anchor_possible else [])]
            union: set[int] = set()
            for combo in combos:
                p, _, _ = _relation_filter(view, query.relation, combo, members, False, rules)
                union.update(p)
            possible, clear, info = sorted(union), [], {}
        steps.append(
            {
                "op": "relation",
                "relation": query.relation,
                "phrase": query.relation_phrase,
                "anchors": anchor_ids,
                "anchors_unique": anchors_unique,
                "anchor_steps": anchor_steps,
                "candidates": members,
                **info,
                "possible": possible,
                "clear": clear,
            }
        )
    steps.append({"op": "result", "possible": possible, "clear": clear})
    return Resolution(query, sorted(possible), sorted(clear), steps)


def resolve_detailed(
    expression: str, objects: Sequence[Mapping], image_size, rules: GeometryRules = DEFAULT_RULES
) -> Resolution:
    """Parse the expression TEXT (:func:`parse_expression`) and evaluate it against the scene
    (:func:`evaluate`): the possible and clear matches and the step-by-step trace.

    ``steps`` holds one dict per filter with ``op`` in ``category``, ``color``, ``cell``,
    ``size``, ``extreme``, ``ordinal``, ``relation`` (with the anchors' own steps) and a final
    ``result``; each lists object indices (``possible``/``clear``) and what was compared
    (colours, cells, areas, the sorted order, offsets, gaps, projections).
    Book chapter: "Data"; our design.
    """
    return evaluate(parse_expression(expression), objects, image_size, rules)


def resolve(
    expression: str, objects: Sequence[Mapping], image_size, rules: GeometryRules = DEFAULT_RULES
) -> list[int]:
    """Indices of the objects that ``expression`` may refer to in a scene, read from its text.

    The check behind every synthetic expression: a kept expression resolves to exactly its
    target (and matches it clearly, see :class:`Resolution`). ``objects`` are mappings with
    ``category``, ``bbox`` and optionally ``color``/``area_px`` (the record's ``objects``
    column); ``image_size`` is a side or ``(width, height)`` in pixels. Raises
    :class:`ExpressionParseError` for text outside the grammar. Book chapter: "Data"; the
    rules are our design (module docstring), the purpose is the paper's "explicit position
    awareness".
    """
    return resolve_detailed(expression, objects, image_size, rules).possible


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
    does not count as size. Book chapter: "Data"; our design.
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
    """Write a :class:`Query` as an English sentence, picking a template at random (seeded by
    ``rng``). The first letter is capitalised, as in DIOR-RSVG. Book chapter: "Data"; our
    design."""
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
    its :class:`Resolution`, and how many candidate sentences were ``tried`` and
    ``rejected`` by the resolver. Book chapter: "Data"."""

    cue: str
    target: int
    expression: str | None = None
    resolution: Resolution | None = None
    query: Query | None = None
    tried: int = 0
    rejected: int = 0


def _rank_of(view: _View, members: list[int], t: int, side: str) -> int:
    coord, _, _, descending = _axis(view, side)
    if descending:
        return 1 + sum(1 for i in members if i != t and coord[i] > coord[t])
    return 1 + sum(1 for i in members if i != t and coord[i] < coord[t])


def _anchor_phrases(view: _View, a: int, rules: GeometryRules, rng: np.random.Generator):
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
        p, c, _ = _eval_np(np_, view, rules)
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
    from the target's geometry without the margins (the resolver judges them afterwards).

    Book chapter: "Data"; our design."""
    view = (
        view_or_objects
        if isinstance(view_or_objects, _View)
        else _View(view_or_objects, image_size)
    )
    if cue not in CUES:
        raise ValueError(f"cue: expected one of {CUES}; got {cue!r}")
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


def _relative_queries(view: _View, t: int, rng: np.random.Generator, rules: GeometryRules):
    cat = view.cat[t]
    side = min(view.width, view.height)
    others = [i for i in range(view.n) if i != t]
    # nearer anchors first, with some randomness
    others.sort(key=lambda i: _gap(view, t, i) * (0.7 + 0.6 * rng.random()))
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
        if _gap(view, t, a) <= rules.near_clear_frac * side:
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
    unambiguous and pointing at the target (:func:`resolve_detailed`); every other sentence
    counts as a rejection. At most ``max_tries`` sentences are tried. ``expression`` is ``None`` when none was kept.
    Book chapter: "Data"; the paper asks for position-aware synthetic data, the
    generate-and-verify loop is our design.
    """
    if cue not in CUES:
        raise ValueError(f"cue: expected one of {CUES}; got {cue!r}")
    view = _View(objects, image_size)
    out = GeneratedExpression(cue=cue, target=target)
    for query in candidate_queries(view, target, cue, rng=rng, rules=rules):
        if out.tried >= max_tries:
            break
        text = realise(query, rng)
        out.tried += 1
        resolution = _evaluate(parse_expression(text), view, rules)
        if resolution.unambiguous and resolution.possible == [target]:
            out.expression, out.resolution, out.query = text, resolution, query
            return out
        out.rejected += 1
    return out


def check_cue_mix(cue_mix: Mapping[str, float] | None) -> dict[str, float]:
    """Validate a cue mix (cue → non-negative weight) and normalise it to sum 1.

    ``None`` gives :data:`DEFAULT_CUE_MIX`. ValueError for unknown cues, negative or
    non-finite weights, or an all-zero mix. Book chapter: "Data"; our design."""
    if cue_mix is None:
        cue_mix = DEFAULT_CUE_MIX
    if not isinstance(cue_mix, Mapping):
        raise ValueError(f"cue_mix: expected a dict cue → weight; got {type(cue_mix).__name__}")
    unknown = [k for k in cue_mix if k not in CUES]
    if unknown:
        raise ValueError(f"cue_mix: unknown cue(s) {unknown}; expected keys from {CUES}")
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


def cue_counts(cue_types: Iterable[str]) -> dict[str, int]:
    """How many records intended each cue (all :data:`CUES` listed). Book chapter: "Data"."""
    counts = Counter(cue_types)
    return {cue: int(counts.get(cue, 0)) for cue in CUES}
