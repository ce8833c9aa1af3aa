"""A language-only prior: predict a box from the expression's words alone, no pixels.

How much do position words carry before any pixel is seen? This baseline reads three
things from a referring expression — the object class it names (the first class word,
i.e. the subject), the absolute position words of the subject phrase (``upper left``,
``in the middle``, ``on the right`` …; the part after a relative marker such as ``to the
left of`` or ``next to`` describes the anchor and is ignored), and a size word (``large``,
``small`` …) — and predicts the **median** normalised box of the training expressions that
share them:

* centre ``(cx, cy)``: from the training boxes with the same class *and* position words;
  backing off to the same position words (any class), then the same class, then all;
* size ``(w, h)``: from the same class *and* size word; backing off to the class, then all.

A statistic is used only when at least ``min_count`` training boxes support it. Fitted on a
train split and scored on a test split with the scoring core, it is the floor any model must
beat, and the gap between its ablations (no words / class words / + position words) is the
value of position words in the benchmark's language. Our design (not from the paper).

Book chapter: "Data" (``book/02_data.py``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from rsground_lib import metrics
from rsground_lib.vocabulary import DIOR_CLASS_WORDS

FEATURES = ("category", "position", "size")

ABLATIONS: dict[str, tuple[str, ...]] = {
    "no words (global median box)": (),
    "class words": ("category",),
    "class + size words": ("category", "size"),
    "class + position words": ("category", "position"),
    "class + position + size words": FEATURES,
}
"""The feature sets compared by :func:`ablation`, by the label the chapter's table shows."""

_RELATIVE_MARKER = re.compile(
    r"\b(?:(?:to|on) the (?:left|right) of|left of|right of|above|below|under|beneath|next to|"
    r"near|beside|besides|between|close to|adjacent to|on top of|in front of|behind|surrounded by|"
    r"by the side of|neighbou?ring)\b",
    re.IGNORECASE,
)
_TOP = re.compile(r"\b(?:upper|top|topmost|uppermost|north(?:ern)?)\b", re.I)
_BOTTOM = re.compile(r"\b(?:lower|bottom|bottommost|lowermost|south(?:ern)?)\b", re.I)
_LEFT = re.compile(r"\b(?:left|leftmost|west(?:ern)?)\b", re.I)
_RIGHT = re.compile(r"\b(?:right|rightmost|east(?:ern)?)\b", re.I)
_MIDDLE = re.compile(r"\b(?:middle|center|centre|central|centrally)\b", re.I)
_LARGE = re.compile(r"\b(?:large|larger|largest|big|bigger|biggest|huge|giant|long)\b", re.I)
_SMALL = re.compile(r"\b(?:small|smaller|smallest|tiny|little|short)\b", re.I)


@dataclass(frozen=True)
class PriorFeatures:
    """What the prior reads from one expression."""

    category: str | None
    vertical: str | None  # "top" | "middle" | "bottom" | None
    horizontal: str | None  # "left" | "center" | "right" | None
    size: str | None  # "large" | "small" | None


def _class_patterns(class_words: dict[str, Sequence[str]]) -> list[tuple[str, re.Pattern]]:
    return [
        (cls, re.compile(r"\b(?:" + "|".join(re.escape(w) for w in words) + r")s?\b", re.I))
        for cls, words in class_words.items()
    ]


def expression_features(
    expression: str, class_words: dict[str, Sequence[str]] = DIOR_CLASS_WORDS
) -> PriorFeatures:
    """The class named first in ``expression`` (the subject), the absolute position words of
    the subject phrase (text before the first relative marker) and its size word."""
    text = " ".join(str(expression).split())
    first = None
    for cls, pat in _class_patterns(class_words):
        m = pat.search(text)
        if m and (first is None or m.start() < first[1]):
            first = (cls, m.start())
    cut = _RELATIVE_MARKER.search(text)
    subject = text[: cut.start()] if cut else text
    top, bottom = bool(_TOP.search(subject)), bool(_BOTTOM.search(subject))
    left, right = bool(_LEFT.search(subject)), bool(_RIGHT.search(subject))
    middle = bool(_MIDDLE.search(subject))
    vertical = "top" if top and not bottom else "bottom" if bottom and not top else None
    horizontal = "left" if left and not right else "right" if right and not left else None
    if middle:
        vertical = vertical or "middle"
        horizontal = horizontal or "center"
    large, small = bool(_LARGE.search(subject)), bool(_SMALL.search(subject))
    size = "large" if large and not small else "small" if small and not large else None
    return PriorFeatures(first[0] if first else None, vertical, horizontal, size)


@dataclass(frozen=True)
class LanguagePrior:
    """Median normalised boxes ``(cx, cy, w, h)`` per feature key, with their counts."""

    use: tuple[str, ...]
    min_count: int
    centre: dict[tuple, tuple[np.ndarray, int]] = field(repr=False)
    size: dict[tuple, tuple[np.ndarray, int]] = field(repr=False)
    class_words: dict[str, tuple[str, ...]] = field(
        repr=False, default_factory=lambda: DIOR_CLASS_WORDS
    )

    def _lookup(self, table, keys) -> np.ndarray:
        for key in keys:
            hit = table.get(key)
            if hit is not None and hit[1] >= self.min_count:
                return hit[0]
        return table[()][0]

    def _keys(self, f: PriorFeatures):
        cat = f.category if "category" in self.use else None
        pos = (f.vertical, f.horizontal) if "position" in self.use else (None, None)
        size = f.size if "size" in self.use else None
        centre_keys = [("cp", cat, *pos), ("p", *pos), ("c", cat), ()]
        size_keys = [("cs", cat, size), ("c", cat), ()]
        return centre_keys, size_keys


def _normalised(bboxes, image_sizes) -> np.ndarray:
    b = np.asarray(bboxes, dtype=np.float64)
    s = np.asarray(image_sizes, dtype=np.float64)
    if b.ndim != 2 or b.shape[1] != 4 or s.shape != (len(b), 2):
        raise ValueError(
            f"expected bboxes (N, 4) and image_sizes (N, 2); got {b.shape} and {s.shape}"
        )
    w, h = s[:, 0], s[:, 1]
    return np.stack(
        [
            (b[:, 0] + b[:, 2]) / 2 / w,
            (b[:, 1] + b[:, 3]) / 2 / h,
            (b[:, 2] - b[:, 0]) / w,
            (b[:, 3] - b[:, 1]) / h,
        ],
        axis=1,
    )


def fit(
    expressions: Sequence[str],
    bboxes,
    image_sizes,
    *,
    use: Sequence[str] = FEATURES,
    min_count: int = 5,
    class_words: dict[str, Sequence[str]] = DIOR_CLASS_WORDS,
) -> LanguagePrior:
    """Fit the prior on training expressions, their boxes (original pixels) and image sizes
    ``(N, 2)`` as ``(width, height)``. ``use`` picks the features (ablations: ``()``,
    ``("category",)``, ``("category", "position")``, all three)."""
    bad = set(use) - set(FEATURES)
    if bad:
        raise ValueError(f"use: unknown feature(s) {sorted(bad)}; known: {FEATURES}")
    if min_count < 1:
        raise ValueError(f"min_count: expected >= 1; got {min_count}")
    norm = _normalised(bboxes, image_sizes)
    if len(norm) == 0:
        raise ValueError("cannot fit a prior on zero expressions")
    prior = LanguagePrior(
        tuple(use), min_count, {}, {}, {k: tuple(v) for k, v in class_words.items()}
    )
    groups_c: dict[tuple, list[int]] = {}
    groups_s: dict[tuple, list[int]] = {}
    for i, expr in enumerate(expressions):
        ck, sk = prior._keys(expression_features(expr, class_words))
        for key in ck:
            groups_c.setdefault(key, []).append(i)
        for key in sk:
            groups_s.setdefault(key, []).append(i)
    if len(groups_c.get((), [])) != len(norm):
        raise ValueError(f"{len(norm)} boxes but {len(groups_c.get((), []))} expressions")
    for key, idx in groups_c.items():
        prior.centre[key] = (np.median(norm[idx, :2], axis=0), len(idx))
    for key, idx in groups_s.items():
        prior.size[key] = (np.median(norm[idx, 2:], axis=0), len(idx))
    return prior


def predict(prior: LanguagePrior, expressions: Sequence[str], image_sizes) -> np.ndarray:
    """Predicted boxes ``(N, 4)`` in original pixels, clipped to the image."""
    s = np.asarray(image_sizes, dtype=np.float64)
    if s.shape != (len(expressions), 2):
        raise ValueError(f"image_sizes: expected ({len(expressions)}, 2); got {s.shape}")
    out = np.empty((len(expressions), 4))
    for i, expr in enumerate(expressions):
        ck, sk = prior._keys(expression_features(expr, prior.class_words))
        cx, cy = prior._lookup(prior.centre, ck)
        w, h = prior._lookup(prior.size, sk)
        out[i] = [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]
    out = np.clip(out, 0.0, 1.0)
    return out * np.concatenate([s, s], axis=1)


def ablation(
    train,
    test,
    *,
    min_count: int = 5,
    ablations: dict[str, Sequence[str]] = ABLATIONS,
    preset: str = "dior_rsvg",
) -> dict[str, dict[str, float]]:
    """Fit one prior per feature set of ``ablations`` on ``train`` and score it on ``test``.

    ``train`` and ``test`` are records (a ``datasets.Dataset`` or a mapping of columns) with
    ``expression``, ``bbox`` (original pixels), ``width`` and ``height``. Returns label →
    :func:`rsground_lib.metrics.grounding_metrics` of the test predictions under ``preset``,
    in the order of ``ablations``. The chapter "Data" runs it on DIOR-RSVG train → test.
    """
    sizes_train = np.stack([train["width"], train["height"]], axis=1)
    sizes_test = np.stack([test["width"], test["height"]], axis=1)
    rows = {}
    for label, use in ablations.items():
        prior = fit(train["expression"], train["bbox"], sizes_train, use=use, min_count=min_count)
        pred = predict(prior, test["expression"], sizes_test)
        rows[label] = metrics.grounding_metrics(pred, np.asarray(test["bbox"]), preset=preset)
    return rows
