"""The project's vocabulary: object classes (id, name, nouns, reading words), colours, cue tags.

One table for the words that several layers share, so that they cannot drift apart:

* **Classes** (:data:`CLASSES`): the 20 DIOR classes (the classes of DIOR-RSVG) and the tiny
  base scenes' ``building``. Each :class:`ObjectClass` holds the class's ``id`` — DIOR-RSVG's
  XML class name, e.g. ``storagetank``, which the synthetic records carry as their
  ``category`` — its plain ``name`` (``storage tank``: the base scenes' category and the
  language prior's class key), the ``(singular, plural)`` ``nouns`` that sentences use (the
  synthetic generator writes them and the resolver's grammar reads them; the first is the
  name) and the further words that only name it when reading free text (``aeroplane``,
  ``harbour``). :data:`SYNTHETIC_CLASSES` are the eleven classes of the synthetic generator,
  :data:`CLASS_NOUNS` their nouns and :data:`DIOR_CLASS_WORDS` the reading words of the 20 DIOR
  classes.
* **Colours** (:data:`COLOR_NAMES`): the canonical colour names of synthetic objects.
* **Cue tags** (:data:`CUE_TAGS`): the kinds of positional cue, the same tags for the tagger
  (:mod:`rsground_lib.data.cues`) and the generator's intended cue
  (:mod:`rsground_lib.data.expressions`); :data:`DOTA_CLASS_PHRASES` are the class names
  that read like size cues.

A bottom-layer module: it imports nothing of the project.
Book chapter: "Data".
"""

from __future__ import annotations

from dataclasses import dataclass

# --------------------------------------------------------------------------- classes


@dataclass(frozen=True)
class ObjectClass:
    """One object class: its ``id`` (DIOR-RSVG's XML class name, the ``category`` of the
    synthetic records), its plain ``name``, the ``(singular, plural)`` ``nouns`` sentences use
    (the first is ``(name, plural of name)``), the ``also_read`` words that name it only when
    reading free text, and whether it is one of the 20 DIOR classes (``dior``)."""

    id: str
    name: str
    nouns: tuple[tuple[str, str], ...]
    also_read: tuple[str, ...] = ()
    dior: bool = True

    @property
    def words(self) -> tuple[str, ...]:
        """Every singular word naming the class in free text: the singular nouns, then
        ``also_read``."""
        return tuple(singular for singular, _ in self.nouns) + self.also_read


def _class(
    id: str,
    name: str,
    *synonyms: tuple[str, str],
    plural: str | None = None,
    also_read: tuple[str, ...] = (),
    dior: bool = True,
) -> ObjectClass:
    nouns = ((name, plural if plural is not None else f"{name}s"), *synonyms)
    return ObjectClass(id, name, nouns, also_read, dior)


CLASSES: dict[str, ObjectClass] = {
    c.id: c
    for c in (
        _class(
            "airplane",
            "airplane",
            ("plane", "planes"),
            ("aircraft", "aircraft"),
            also_read=("aeroplane",),
        ),
        _class("airport", "airport"),
        _class("baseballfield", "baseball field", ("baseball diamond", "baseball diamonds")),
        _class("basketballcourt", "basketball court"),
        _class("bridge", "bridge"),
        _class("chimney", "chimney"),
        _class("dam", "dam"),
        _class("Expressway-Service-area", "expressway service area", also_read=("service area",)),
        _class("Expressway-toll-station", "expressway toll station", also_read=("toll station",)),
        _class("golffield", "golf field", also_read=("golf course",)),
        _class(
            "groundtrackfield",
            "ground track field",
            ("running track", "running tracks"),
            also_read=("track field",),
        ),
        _class("harbor", "harbor", also_read=("harbour",)),
        _class("overpass", "overpass", plural="overpasses"),
        _class("ship", "ship", ("boat", "boats"), ("vessel", "vessels")),
        _class("stadium", "stadium"),
        _class("storagetank", "storage tank", ("oil tank", "oil tanks"), ("tank", "tanks")),
        _class("tenniscourt", "tennis court"),
        _class("trainstation", "train station", also_read=("railway station",)),
        _class("vehicle", "vehicle", ("car", "cars"), also_read=("truck", "bus")),
        _class("windmill", "windmill", ("wind turbine", "wind turbines")),
        _class("building", "building", dior=False),
    )
}
"""Class id → :class:`ObjectClass`: the 20 DIOR classes in the alphabetical order of their
names, then ``building`` (a distractor of the tiny base scenes, not a DIOR class)."""

DIOR_CLASSES: tuple[str, ...] = tuple(c.id for c in CLASSES.values() if c.dior)
"""The ids of the 20 DIOR classes (the classes of DIOR-RSVG)."""

SYNTHETIC_CLASSES: tuple[str, ...] = (
    "storagetank",
    "vehicle",
    "ship",
    "airplane",
    "tenniscourt",
    "basketballcourt",
    "baseballfield",
    "bridge",
    "chimney",
    "windmill",
    "groundtrackfield",
)
"""The ids of the synthetic generator's classes, in its order (the order of
:data:`rsground_lib.data.scene_model.CLASS_SPECS`, which holds their look)."""

CLASS_NOUNS: dict[str, tuple[tuple[str, str], ...]] = {
    cid: CLASSES[cid].nouns for cid in SYNTHETIC_CLASSES
}
"""Synthetic class id → its (singular, plural) nouns, the first the main one: what the
generator writes and the resolver's grammar reads."""

DIOR_CLASS_WORDS: dict[str, tuple[str, ...]] = {c.name: c.words for c in CLASSES.values() if c.dior}
"""DIOR class name → the words that name it in free text (what the language prior reads)."""

DOTA_CLASS_PHRASES: tuple[str, ...] = ("small vehicle", "large vehicle")
"""DOTA-v2 category names (``small-vehicle``, ``large-vehicle``) that are not size cues in
DOTA-derived data such as VRSBench; matched after hyphens become spaces, plurals included."""

# --------------------------------------------------------------------------- colours

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

# --------------------------------------------------------------------------- cue tags

CUE_TAGS: tuple[str, ...] = ("absolute", "relative", "ordinal", "extreme", "size", "color", "none")
"""The kinds of positional cue, in this order: the tags :func:`rsground_lib.data.cues.tag_cues`
returns and the cues the synthetic generator intends (``cue_type``)."""

# --------------------------------------------------------------------------- extreme cues

EXTREME_EDGES: dict[str, tuple[str, int, str]] = {
    "leftmost": ("x1", 0, "min"),
    "rightmost": ("x2", 2, "max"),
    "topmost": ("y1", 1, "min"),
    "bottommost": ("y2", 3, "max"),
}
"""The four extreme cue words of the tiny base's scenes → ``(edge name, index of the edge in
``[x1, y1, x2, y2]``, whether the named instance has the ``min`` or the ``max`` of it)``: the
edge a cue word names. The executable reasoning trace compares the candidates by this edge,
read off their listed boxes (:func:`rsground_lib.data.cot.steps_trace`), the text skills
teach the same step (:mod:`rsground_lib.data.text_skills`) and the reasoning's links are
scored with it (:mod:`rsground_lib.reasoning`). Our reading of the paper's "explicit position
awareness" for the CPU miniature; the resolver itself ranks by centres."""

SIDE_WORDS: dict[str, str] = {
    "left": "leftmost",
    "right": "rightmost",
    "top": "topmost",
    "bottom": "bottommost",
}
"""A resolver ``extreme`` step's ``side`` → its cue word of :data:`EXTREME_EDGES`."""
