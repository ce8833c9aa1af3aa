"""Positional-cue tagger: which kinds of cue a referring expression uses to single out its target.

The same tagger runs on real benchmark expressions and on the synthetic ones, so their cue
distributions can be compared (book chapter "Data", ``book/02_data.py``). It is a set of
word-boundary regular expressions over a normalised, lower-cased copy of the expression; no
model, no parser, deterministic; about 0.1 ms per expression (VRSBench's 16k sentences in
~1.5 s on 2 cores) and linear in the length of the text (runs of modifiers are bounded, so no
input can make the regular expressions backtrack for long).

Tags (:data:`rsground_lib.vocabulary.CUE_TAGS`, also the output order):

``absolute``
    a position in the image frame: *upper left*, *top-right corner*, *centre*, *in the middle*,
    *on the left side of the image*, *the bottom edge*, *southern part*, *on the far right*.
``relative``
    a position with respect to another object (a landmark): *left of the lake*, *next to*,
    *near a road*, *beside*, *above the tennis court*, *below*, *between*, *close to*,
    *adjacent to*, *surrounded by*, *on top of the building*, *across a river*.
``ordinal``
    counting: *first*, *second*, *third*, *2nd*, *last*, usually with *from the left / top*.
``extreme``
    a superlative that picks the extreme member of a group: *leftmost*, *right-most*,
    *top-most*, *the most bottom*, *largest*, *smallest*, *closest*, *farthest*, *highest*.
``size``
    a size or extent adjective: *large*, *small*, *big*, *tiny*, *huge*, *long*, *short*,
    *wide*, *narrow*, *tall*, *thin*, and their comparatives (*larger*, *smaller*).
``color``
    a colour or brightness word: *white*, *red*, *grey/gray*, *dark*, *light-coloured*, …
``none``
    none of the above (e.g. "The slender overpass", "A golf field"). Only ever alone.

Decisions the chapter explains:

* **One word, one tag.** A superlative is ``extreme`` only: "the largest ship" is
  ``["extreme"]``, not also ``size``; "the larger ship" is ``size``. The tags say *how* the
  expression singles the target out — by an extremum or by an attribute.
* **Relative needs a landmark.** "on the left of the tennis court" is ``relative``; "on the
  left of the image", "on the left side of the centre", "near the bottom edge" and "closer
  to the left edge" name the image frame, so they are ``absolute``. A phrase like "left of
  X" is removed before the absolute words are looked for, so "a vehicle on the right of the
  tennis court on the left" is ``absolute`` (the second *left*) and ``relative``.
* **Ordinal needs an ordinal word.** "the second from the left" is ``ordinal`` (its "from the
  left" is part of the count, not an absolute cue); a bare "from the left" is ``absolute``.
* **"adjacent" needs "to"**: "two adjacent tennis courts" describes a group, not a landmark.
* **Class names are not sizes**: "small vehicle" and "large vehicle" are DOTA-v2 categories
  (VRSBench uses them in 15 % of its expressions), where "small" is part of the name, not a
  cue. The tagger reads words literally unless told: ``ignore_phrases`` lists the category
  names whose words must not count (:data:`~rsground_lib.vocabulary.DOTA_CLASS_PHRASES` for
  DOTA-derived data). The benchmark readers pass it for VRSBench only
  (:data:`rsground_lib.data.benchmarks.CUE_IGNORE_PHRASES`); in DIOR-RSVG, whose class is
  plain "vehicle", "a small vehicle" *is* a size cue, and so it is in the synthetic data.
* **Shape is not size**: "slender", "rectangular", "round" carry no tag.

Known limits: the tagger cannot tell what a position word is relative to when the sentence
leaves it implicit ("a court with a star in the center" is ``absolute``), and it reads
English only.

Book chapter: "Data" (``book/02_data.py``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from rsground_lib.vocabulary import CUE_TAGS, DOTA_CLASS_PHRASES

# ---------------------------------------------------------------------------------------------
# The tagger's word patterns. Everything is matched on a normalised text: lower case,
# hyphens/underscores/slashes as spaces, curly apostrophes straightened, whitespace collapsed.

_COMPASS = (
    r"north|south|east|west|northeast|northwest|southeast|southwest"
    r"|northern|southern|eastern|western|northeastern|northwestern|southeastern|southwestern"
)
_IMG_NOUN = r"(?:image|images|picture|photo|photograph|frame|scene|map|view|tile|patch)(?:'s)?"
_POS_NOUN = (
    r"(?:center|centre|middle|left|right|top|bottom|edge|edges|border|borders|boundary"
    r"|boundaries|corner|corners|side|sides|half|quadrant|quadrants|part|portion|section|area"
    r"|region|periphery|margin|margins|upper|lower|" + _COMPASS + r")"
)
_MOD = (
    r"(?:(?:very|far|extreme|mid|upper|lower|top|bottom|left|right|middle|center|centre|central"
    r"|entire|whole|same|opposite|other|image|image's|" + _COMPASS + r")\s+){0,4}"
)
# A reference to the image frame itself ("the image", "the centre", "the left edge", "the
# center of the left"), as opposed to a landmark ("the tennis court", "the edge of a road").
_IMAGE_REF = (
    rf"(?:(?:the|this|that|its|an?)\s+)?{_MOD}"
    rf"(?:{_IMG_NOUN}\b|{_POS_NOUN}\b"
    rf"(?!\s+of\s+(?!(?:the\s+|this\s+)?{_MOD}(?:{_IMG_NOUN}|{_POS_NOUN})\b)))"
)

_COLOR_WORDS = (
    r"(?:white|whitish|black|blackish|red|reddish|blue|bluish|blueish|green|greenish|gray|grey"
    r"|grayish|greyish|yellow|yellowish|orange|orangish|brown|brownish|purple|purplish|pink"
    r"|pinkish|cyan|beige|silver|silvery|golden|gold|turquoise|teal|maroon|violet|khaki|crimson)"
)

_ORDINAL_WORD = re.compile(
    r"\b(?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|eleventh|twelfth"
    r"|last|penultimate|\d+(?:st|nd|rd|th))\b"
)
_ORDINAL_FROM = re.compile(
    r"\bfrom\s+the\s+(?:(?:far|very)\s+)?(?:(?:upper|lower|top|bottom)\s+)?"
    r"(?:left|right|top|bottom|middle|center|centre|" + _COMPASS + r")"
    r"(?:\s+(?:side|end|edge|corner))?\b"
)
_EXTREME = re.compile(
    r"\b(?:left|right|top|bottom|upper|lower|inner|outer|fore|hind|far|" + _COMPASS + r")\s*most\b"
    r"|\bmost\s+(?:left|right|top|bottom|upper|lower|central|distant|remote|peripheral"
    r"|northerly|southerly|easterly|westerly|" + _COMPASS + r")\b"
    r"|\b(?:largest|biggest|smallest|tiniest|longest|shortest|widest|narrowest|tallest"
    r"|highest|lowest|furthest|farthest|closest|nearest|greatest|broadest|thinnest|thickest"
    r"|brightest|darkest|lightest)\b"
)
_RELATIVE_OF = re.compile(
    r"\b(?:(?:far|very|immediate|upper|lower|top|bottom)\s+){0,3}"
    r"(?:left|right|top|bottom|middle|center|centre|" + _COMPASS + r")"
    r"(?:wards?)?(?:\s+hand)?"
    r"(?:\s+(?:side|part|portion|edge|corner|half|end|section|area|region|border))?"
    rf"\s+(?:of|from)\s+(?!{_IMAGE_REF})"
)
_RELATIVE_PREP = re.compile(
    r"\b(?:next\s+to|adjacent\s+to|beside|besides|alongside|nearby|near(?:er)?(?:\s+to)?"
    r"|nearest\s+to|close\s+(?:to|by)|closer\s+to|closest\s+to|neighbou?ring"
    r"|surrounded\s+by|surrounding|between|in\s+front\s+of|behind|opposite(?:\s+to)?"
    r"|across(?:\s+from)?|around|along|parallel\s+to|perpendicular\s+to|connected\s+to"
    r"|attached\s+to|inside|within|above|below|under|beneath|underneath|over|far\s+from"
    r"|away\s+from|bordering|bordered\s+by|facing)\b"
    rf"(?!\s*(?:(?:to|by|from|of)\s+)?{_IMAGE_REF})"
)
_ABSOLUTE = re.compile(
    r"\b(?:left|right|top|bottom|upper|lower|middle|center|centre|central|centrally|centered"
    r"|centred|northerly|southerly|easterly|westerly|" + _COMPASS + r")(?:wards?)?\b"
    r"|\b(?:the|image|image's)\s+(?:(?:very|far|outer)\s+)?"
    r"(?:corner|corners|edge|edges|border|borders|periphery|margin|margins)\b"
    rf"(?!\s+of\s+(?!(?:the\s+|this\s+)?{_MOD}(?:{_IMG_NOUN}|{_POS_NOUN})\b))"
)
_SIZE = re.compile(
    r"\b(?:large|larger|small|smaller|big|bigger|tiny|tinier|huge|huger|massive|giant|gigantic"
    r"|enormous|immense|medium|mid\s+sized|sizable|sizeable|long|longer|short|shorter|wide"
    r"|wider|narrow|narrower|tall|taller|thin|thinner)\b"
)
_COLOR = re.compile(
    rf"\b{_COLOR_WORDS}\b"
    r"|\b(?:dark|darker|bright|brighter|colou?r|colou?rs|colou?red|colou?rful|multicolou?red)\b"
    rf"|\blight(?:er)?(?=\s+(?:colou?red|colou?r|toned|tone|shade|{_COLOR_WORDS}\b))"
)

_NORMALISE_SEPARATORS = re.compile(r"[-_/\u2010-\u2015]+")
_WHITESPACE = re.compile(r"\s+")


def _normalise(expression: str) -> str:
    text = expression.lower().replace("\u2019", "'").replace("\u2018", "'")
    text = _NORMALISE_SEPARATORS.sub(" ", text)
    return _WHITESPACE.sub(" ", text).strip()


def _blank(text: str, pattern: re.Pattern[str]) -> str:
    """Replace every match of ``pattern`` by spaces of the same length (positions kept)."""
    return pattern.sub(lambda m: " " * len(m.group(0)), text)


def _ignore_pattern(phrases: Sequence[str]) -> re.Pattern[str] | None:
    cleaned = [_normalise(p) for p in phrases if p and p.strip()]
    if not cleaned:
        return None
    alternatives = "|".join(re.escape(p).replace(r"\ ", r"\s+") for p in cleaned)
    return re.compile(rf"\b(?:{alternatives})(?:e?s)?\b")


_DOTA_IGNORE = _ignore_pattern(DOTA_CLASS_PHRASES)


def tag_cues(expression: str, *, ignore_phrases: Sequence[str] = ()) -> list[str]:
    """The positional-cue tags of one English referring expression, in the order of
    :data:`~rsground_lib.vocabulary.CUE_TAGS`.

    Used to tag every real and synthetic record (the ``cues`` column of the record, see
    :mod:`rsground_lib.data.schema`) and to compare cue distributions across datasets
    (:func:`cue_distribution`). Explained in the book chapter "Data" (``book/02_data.py``);
    the tag definitions and the decisions behind them are in this module's docstring.

    Never raises for a string (any string, empty included) and always returns a non-empty list:
    ``["none"]`` when no other tag applies. ``ignore_phrases`` are category names whose words
    must not count as size cues (default none;
    :data:`~rsground_lib.vocabulary.DOTA_CLASS_PHRASES` for DOTA-derived data such as
    VRSBench, where "small vehicle" is a class name).

    >>> tag_cues("The second storage tank from the left")
    ['ordinal']
    >>> tag_cues("A white vehicle on the right of the large tennis court on the upper left")
    ['absolute', 'relative', 'size', 'color']
    """
    if not isinstance(expression, str):
        raise TypeError(f"tag_cues expects a str expression, got {type(expression).__name__}")
    text = _normalise(expression)
    tags: set[str] = set()

    if _EXTREME.search(text):
        tags.add("extreme")
    without_extreme = _blank(text, _EXTREME)

    if _ORDINAL_WORD.search(text):
        tags.add("ordinal")
        positional = _blank(without_extreme, _ORDINAL_FROM)
        relative_text = _blank(text, _ORDINAL_FROM)
    else:
        positional = without_extreme
        relative_text = text

    if _RELATIVE_OF.search(relative_text) or _RELATIVE_PREP.search(relative_text):
        tags.add("relative")
    positional = _blank(_blank(positional, _RELATIVE_OF), _RELATIVE_PREP)

    if _ABSOLUTE.search(positional):
        tags.add("absolute")

    ignore = (
        _DOTA_IGNORE
        if tuple(ignore_phrases) == DOTA_CLASS_PHRASES
        else _ignore_pattern(ignore_phrases)
    )
    size_text = _blank(text, ignore) if ignore is not None else text
    if _SIZE.search(size_text):
        tags.add("size")
    if _COLOR.search(text):
        tags.add("color")

    if not tags:
        return ["none"]
    return [tag for tag in CUE_TAGS if tag in tags]


def cue_distribution(
    expressions: Iterable[str | Sequence[str]],
    *,
    ignore_phrases: Sequence[str] = (),
):
    """Share of expressions carrying each cue tag, as a ``pandas.DataFrame``.

    Used by the book chapter "Data" (``book/02_data.py``) to compare real benchmarks with the
    synthetic data. Each item is either an expression (tagged here with :func:`tag_cues`) or
    an already computed list of tags (e.g. a dataset's ``cues`` column). An expression can
    carry several tags, so the shares do not sum to 1. ``ignore_phrases`` is passed on to
    :func:`tag_cues` (:data:`~rsground_lib.vocabulary.DOTA_CLASS_PHRASES` for VRSBench
    expressions).

    Returns one row per tag of :data:`~rsground_lib.vocabulary.CUE_TAGS` (index ``tag``) with
    columns ``count`` (how many expressions carry the tag) and ``share`` (count / number of
    expressions); the number of expressions is in ``df.attrs["n_expressions"]``. Raises
    ``ValueError`` for an empty input or a tag list holding an unknown tag (naming the item's
    position).
    """
    import pandas as pd

    counts = dict.fromkeys(CUE_TAGS, 0)
    n = 0
    for position, item in enumerate(expressions):
        if isinstance(item, str):
            tags = tag_cues(item, ignore_phrases=ignore_phrases)
        elif isinstance(item, Sequence):
            tags = list(item)
            unknown = [t for t in tags if t not in counts]
            if unknown or not tags:
                raise ValueError(
                    f"cue_distribution: item {position} is a tag list {tags!r}; expected a "
                    f"non-empty list of tags from {CUE_TAGS}"
                )
        else:
            raise TypeError(
                f"cue_distribution: item {position} is a {type(item).__name__}; expected an "
                f"expression (str) or a list of cue tags"
            )
        for tag in set(tags):
            counts[tag] += 1
        n += 1
    if n == 0:
        raise ValueError("cue_distribution: no expressions given (the share is undefined)")
    frame = pd.DataFrame(
        {"count": [counts[t] for t in CUE_TAGS], "share": [counts[t] / n for t in CUE_TAGS]},
        index=pd.Index(CUE_TAGS, name="tag"),
    )
    frame.attrs["n_expressions"] = n
    return frame


POSITIONAL_TAGS: tuple[str, ...] = ("absolute", "relative", "ordinal", "extreme")
"""The tags that locate an object by position (size and colour do not)."""


def positional_share(cue_lists) -> float:
    """Share of expressions (given as their tag lists, e.g. a dataset's ``cues`` column) that
    carry at least one positional tag (:data:`POSITIONAL_TAGS`) — how often descriptions rely
    on position, the paper's premise. NaN for no expressions."""
    lists = list(cue_lists)
    if not lists:
        return float("nan")
    positional = set(POSITIONAL_TAGS)
    return sum(bool(positional & set(tags)) for tags in lists) / len(lists)
