"""The synthetic scene model: object classes and their look, the scene and its objects.

What every other piece of the synthetic generator shares: the colour names of objects
(:data:`PALETTE`), the eleven DIOR-RSVG classes with the ground they stand on and their size
range (:class:`ClassSpec`, :data:`CLASS_SPECS`), the scene (:class:`Scene`, land cover as
shapely geometries, buildings, objects) and its objects (:class:`SceneObject`, what the record
keeps and how it is drawn), the ``datasets`` feature of the ``objects`` column, and the checks
of the generator's ``image_size`` and ``classes`` arguments.

Sizes are compressed (our design): real ground track fields are ~35× longer than cars; here
every class has a typical length as a fraction of the image side
(:attr:`ClassSpec.length_frac`) so that all classes stay legible in one 112–800 px image, with
a floor in pixels.

Book chapter: "Data".
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rsground_lib import boxes

# --------------------------------------------------------------------------- classes

PALETTE: dict[str, tuple[int, int, int]] = {
    "white": (230, 231, 226),
    "gray": (142, 144, 146),
    "black": (38, 39, 43),
    "red": (176, 44, 38),
    "blue": (46, 86, 170),
    "green": (56, 128, 66),
    "yellow": (224, 196, 58),
    "orange": (224, 126, 48),
    "brown": (150, 102, 62),
}
"""Colour name → base RGB of object colours (the names of
:data:`rsground_lib.vocabulary.COLOR_NAMES`, in its order)."""


@dataclass(frozen=True)
class ClassSpec:
    """How one object class looks and where it may stand (our design).

    ``ground``: ``water``, ``river`` (across it), ``road``, ``apron`` or ``land``;
    ``length_frac``: the range of the object's long side as a fraction of the image side;
    ``min_length_px``: floor in pixels; ``colors``: (name, weight) pairs;
    ``max_per_scene``: cap on instances.
    """

    category: str
    ground: str
    length_frac: tuple[float, float]
    min_length_px: float
    colors: tuple[tuple[str, float], ...]
    max_per_scene: int


CLASS_SPECS: dict[str, ClassSpec] = {
    s.category: s
    for s in (
        ClassSpec("storagetank", "land", (0.05, 0.11), 7, (("white", 0.6), ("gray", 0.4)), 6),
        ClassSpec(
            "vehicle",
            "road",
            (0.032, 0.056),
            6,
            (
                ("white", 0.25),
                ("gray", 0.15),
                ("black", 0.15),
                ("red", 0.15),
                ("blue", 0.15),
                ("yellow", 0.08),
                ("green", 0.07),
            ),
            6,
        ),
        ClassSpec(
            "ship",
            "water",
            (0.08, 0.17),
            10,
            (("white", 0.35), ("gray", 0.25), ("black", 0.15), ("red", 0.15), ("blue", 0.1)),
            5,
        ),
        ClassSpec("airplane", "apron", (0.1, 0.18), 12, (("white", 0.65), ("gray", 0.35)), 5),
        ClassSpec(
            "tenniscourt",
            "land",
            (0.09, 0.13),
            10,
            (("green", 0.45), ("blue", 0.35), ("red", 0.2)),
            5,
        ),
        ClassSpec(
            "basketballcourt",
            "land",
            (0.08, 0.11),
            9,
            (("orange", 0.4), ("blue", 0.35), ("green", 0.25)),
            4,
        ),
        ClassSpec("baseballfield", "land", (0.17, 0.26), 16, (("brown", 1.0),), 3),
        ClassSpec("bridge", "river", (0.12, 0.24), 14, (("gray", 0.6), ("white", 0.4)), 3),
        ClassSpec(
            "chimney", "land", (0.05, 0.08), 6, (("gray", 0.45), ("white", 0.3), ("red", 0.25)), 4
        ),
        ClassSpec("windmill", "land", (0.08, 0.12), 10, (("white", 1.0),), 5),
        ClassSpec("groundtrackfield", "land", (0.24, 0.33), 24, (("red", 0.7), ("blue", 0.3)), 2),
    )
}
"""The object classes (the ids of :data:`rsground_lib.vocabulary.SYNTHETIC_CLASSES`, in its
order) and their look."""

CATEGORIES: tuple[str, ...] = tuple(CLASS_SPECS)

SMOKE_IMAGE_SIZE = 224
FULL_IMAGE_SIZE = 800
"""Image sides of the smoke profile and of DIOR-RSVG (the full profile)."""

# --------------------------------------------------------------------------- the scene


@dataclass
class SceneObject:
    """One object of a scene: what the record keeps (``category``, ``bbox`` in pixels of the
    image, continuous convention, ``color``, ``size`` label, ``area_px``, ``angle_deg``,
    ``ground``) and how it is drawn (``parts``, ``shadow``, ``decor``, ``footprint``).

    ``size`` is ``small``/``medium``/``large`` by where the object's length falls in its
    class's range (a property of the object, not a cue)."""

    category: str
    bbox: tuple[float, float, float, float]
    color: str
    size: str
    area_px: float
    angle_deg: float
    ground: str
    parts_fn: object = field(default=None, repr=False)  # () -> [(geometry, rgba)], built lazily
    shadow: list = field(default_factory=list, repr=False)
    decor: list = field(default_factory=list, repr=False)
    footprint: object = field(default=None, repr=False)
    _parts: list | None = field(default=None, repr=False)

    @property
    def parts(self) -> list:
        """The drawing parts ``[(geometry, rgba)]`` in image pixels (built on first use:
        scenes made only for their geometry never pay for them)."""
        if self._parts is None:
            self._parts = list(self.parts_fn()) if self.parts_fn is not None else []
        return self._parts

    def to_record(self) -> dict:
        """The ``objects`` entry of the record (JSON-able)."""
        return {
            "category": self.category,
            "bbox": [float(v) for v in self.bbox],
            "color": self.color,
            "size": self.size,
            "area_px": float(self.area_px),
            "angle_deg": float(self.angle_deg),
            "ground": self.ground,
        }


@dataclass
class Scene:
    """A synthetic scene: its size, land cover (shapely geometries by kind), buildings,
    markings, objects, sun direction and the seed of its textures."""

    width: int
    height: int
    objects: list[SceneObject]
    landcover: dict
    buildings: list = field(default_factory=list, repr=False)
    markings: list = field(default_factory=list, repr=False)
    shadow_deg: float = 0.0
    render_seed: int = 0
    water_kind: str | None = None
    target_category: str | None = None
    dropped: int = 0
    road_lines: list = field(default_factory=list, repr=False)
    road_width_px: float = 0.0

    def object_records(self) -> list[dict]:
        """Every object as its record dict (the ``objects`` column)."""
        return [o.to_record() for o in self.objects]


OBJECTS_FEATURE_FIELDS = ("category", "bbox", "color", "size", "area_px", "angle_deg", "ground")


def objects_feature():
    """The ``datasets`` feature of the ``objects`` column: a list of dicts with the fields
    :data:`OBJECTS_FEATURE_FIELDS`."""
    import datasets

    return datasets.List(
        {
            "category": datasets.Value("string"),
            "bbox": datasets.List(datasets.Value("float64"), length=4),
            "color": datasets.Value("string"),
            "size": datasets.Value("string"),
            "area_px": datasets.Value("float64"),
            "angle_deg": datasets.Value("float64"),
            "ground": datasets.Value("string"),
        }
    )


# --------------------------------------------------------------------------- argument checks


def image_wh(image_size) -> tuple[int, int]:
    """``(width, height)`` of an ``image_size`` argument (a side or a pair), checked to lie
    between 64 and 4096 pixels."""
    expected = f"image_size: expected a side in whole pixels or (width, height); got {image_size!r}"
    single = isinstance(image_size, (int, float, np.number)) and not isinstance(image_size, bool)
    try:  # 224.9 is not a size: never truncated silently
        sides = [image_size] if single else list(image_size)
        w, h = boxes.as_size((sides[0], sides[-1]) if len(sides) in (1, 2) else sides)
    except (TypeError, ValueError):
        raise ValueError(expected) from None
    if w < 64 or h < 64 or max(w, h) > 4096:
        raise ValueError(f"image_size: expected sides between 64 and 4096 pixels; got {w}x{h}")
    return w, h


def check_classes(classes) -> tuple[str, ...]:
    """The ``classes`` argument as a tuple of known class names without repeats (all of
    :data:`CATEGORIES` for None)."""
    if classes is None:
        return CATEGORIES
    if isinstance(classes, str):
        classes = [classes]
    out = tuple(dict.fromkeys(classes))
    unknown = [c for c in out if c not in CLASS_SPECS]
    if unknown or not out:
        raise ValueError(
            f"classes: unknown or empty {unknown or list(out)}; expected a subset of {CATEGORIES}"
        )
    return out
