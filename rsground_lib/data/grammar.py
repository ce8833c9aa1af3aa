"""The grammar of synthetic referring expressions: the parsed query and its parser.

The synthetic generator (:mod:`rsground_lib.data.expressions`) writes every expression from a
structured description, and the resolver (:mod:`rsground_lib.data.resolver`) checks it by
reading the TEXT back with this module's small grammar (:func:`parse_expression`) — it never
sees the generator's structured query. A parsed expression is a :class:`Query`: a head
:class:`NounPhrase` (a class and the cues that narrow it down: colour, size, 3×3 grid cell,
order, extreme) and an optional relation to one or two anchor noun phrases. Class nouns come
from :data:`rsground_lib.vocabulary.CLASS_NOUNS`, colour names from
:data:`rsground_lib.vocabulary.COLOR_NAMES`; this module holds the grammar's own words
(ordinals, sides, relations, grid-cell names). The grammar itself is written out in
:func:`parse_expression`'s docstring. Our design.
Book chapter: "Data".
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace

from rsground_lib.vocabulary import CLASS_NOUNS, COLOR_NAMES

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


# --------------------------------------------------------------------------- parsed queries


@dataclass(frozen=True)
class NounPhrase:
    """One parsed noun phrase: a class and the cues that narrow it down.

    ``order`` is ``(side, rank)``; ``extreme`` is a side or ``"largest"``/``"smallest"``;
    ``size`` is ``"large"``/``"small"``; ``cell`` is ``(row, column)`` of the 3×3 grid;
    ``count`` is 2 for "the two tanks". ``phrases`` maps each cue to the words that carried it.
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
        """Equal up to wording (noun synonym and phrases)."""
        return replace(self, noun="", phrases=()) == replace(other, noun="", phrases=())


@dataclass(frozen=True)
class Query:
    """A parsed expression: the head noun phrase and an optional relation to anchors."""

    head: NounPhrase
    relation: str | None = None
    anchors: tuple[NounPhrase, ...] = ()
    relation_phrase: str = ""

    def same_meaning(self, other: Query) -> bool:
        """Equal up to wording."""
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
    ``"none"``."""
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
    British spellings mapped (centre→center, grey→gray, colour→color), "left most" joined."""
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

    Raises :class:`ExpressionParseError` (a ValueError) naming what it could not read. Our design.
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
