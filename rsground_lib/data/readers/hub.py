"""Hugging Face Hub datasets (any benchmark name containing ``/``), read without decoding images.

``datasets.load_dataset(name, split=split, revision=revision)``. Expected columns
(:data:`HUB_COLUMNS`, renamed with ``columns``): ``image`` (``datasets.Image`` or a path
string), ``expression`` (str), ``bbox`` (``[x1, y1, x2, y2]`` in original-image pixels,
continuous convention), ``width`` and ``height`` (ints; or pass ``image_size``), optional
``category`` (a string or a ``ClassLabel``). Images are neither decoded nor copied out of
Arrow. Offline, an unknown id raises ``ConnectionError`` saying so. A split without rows is
an error (``ValueError`` naming it), as an empty file is for the other readers; box values
given as text must be written with ASCII digits. Only local folders are
tested here: no Hub dataset in this exact schema could be reached.

Book chapter: "Data".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rsground_lib.data.readers.common import BENCHMARKS, ReadRequest, make_record, number
from rsground_lib.data.schema import RecordError, records_to_dataset

HUB_COLUMNS: dict[str, str] = {
    "image": "image",
    "expression": "expression",
    "bbox": "bbox",
    "width": "width",
    "height": "height",
    "category": "category",
}
"""Default mapping record column → Hub dataset column."""


def read_hub(
    req: ReadRequest,
    *,
    dataset: str | None = None,
    columns: Mapping[str, str] | None = None,
    image_size: tuple[int, int] | None = None,
    revision: str | None = None,
):
    """The reader of Hub ids (registered as ``"hub"``): ``req.name`` is the id or a local
    dataset path; ``dataset`` sets the label (default: the last part of the name)."""
    import datasets  # imported when used, as everywhere in the data layer (slow to import)

    name, split, image = req.name, req.split, req.image
    if req.check_images or req.images_dir is not None:
        raise ValueError(
            f"load_benchmark({name!r}): check_images and images_dir apply to benchmarks read "
            "from disk; a Hub dataset's images live in its own files"
        )
    try:
        raw = datasets.load_dataset(name, split=split, revision=revision)
    except ConnectionError as err:
        raise ConnectionError(
            f"could not reach the Hugging Face Hub for {name!r} (offline?): {err}. Download it "
            "once with network access (it is then cached), or pass a local folder / one of "
            f"{BENCHMARKS}"
        ) from err
    except FileNotFoundError as err:
        raise FileNotFoundError(
            f"no dataset {name!r} (split {split!r}) on the Hub or on disk: {err}"
        ) from err
    except ValueError as err:  # e.g. an empty split: "Instruction 'test' corresponds to no data"
        raise ValueError(f"{name} split {split}: {err}") from err
    if raw.num_rows == 0:
        raise ValueError(f"{name} split {split}: no rows; expected at least one record")
    mapping = {**HUB_COLUMNS, **(columns or {})}
    for role in ("image", "expression", "bbox"):
        if mapping[role] not in raw.column_names:
            raise ValueError(
                f"{name} split {split}: no column {mapping[role]!r} for the record's {role!r} "
                f"(columns: {raw.column_names}); pass columns={{'{role}': '<name>'}}"
            )
    has_size = mapping["width"] in raw.column_names and mapping["height"] in raw.column_names
    if not has_size and image_size is None:
        raise ValueError(
            f"{name} split {split}: no {mapping['width']!r}/{mapping['height']!r} columns; pass "
            "image_size=(width, height) (images are not opened to measure them)"
        )
    image_col = mapping["image"]
    image_feature = raw.features[image_col]
    is_image_feature = isinstance(image_feature, datasets.Image)
    if is_image_feature:
        raw = raw.cast_column(image_col, datasets.Image(decode=False))
    label = dataset or name.rstrip("/").split("/")[-1]
    meta_cols = [mapping[r] for r in ("expression", "bbox") if mapping[r] in raw.column_names]
    meta_cols += [
        mapping[r] for r in ("width", "height", "category") if mapping[r] in raw.column_names
    ]
    meta = raw.select_columns(sorted(set(meta_cols))).to_dict()
    cat_feature = raw.features.get(mapping["category"])
    if isinstance(cat_feature, datasets.ClassLabel):  # integer codes -> class names
        meta[mapping["category"]] = [
            None if v is None or v < 0 else cat_feature.int2str(v)
            for v in meta[mapping["category"]]
        ]
    col = req.collector
    keep: list[int] = []
    placeholder = "<hub image>"
    for index in range(raw.num_rows):
        where = f"{name} split {split} row {index}"

        def build(index: int = index, where: str = where) -> dict[str, Any]:
            bbox = meta[mapping["bbox"]][index]
            if not isinstance(bbox, (list, tuple)) or len(bbox) != 4:
                raise RecordError(
                    where, "bbox", f"bbox must be [x1, y1, x2, y2] pixels, got {bbox!r}"
                )
            size = (
                (meta[mapping["width"]][index], meta[mapping["height"]][index])
                if has_size
                else image_size
            )
            category = meta[mapping["category"]][index] if mapping["category"] in meta else None
            return make_record(
                dataset=label,
                split=split,
                index=index,
                image=placeholder,
                size=size,
                expression=meta[mapping["expression"]][index],
                bbox=[number(v, "bbox value", where) for v in bbox],
                category=category,
                source=f"{name}:{split}[{index}]",
                where=where,
            )

        before = len(col.rows)
        col.add(build, where)
        if len(col.rows) > before:
            keep.append(index)
    images = raw.select_columns([image_col])
    if len(keep) < raw.num_rows:
        images = images.select(keep).flatten_indices()
    if image_col != "image":
        images = images.rename_column(image_col, "image")
    meta_ds = records_to_dataset(col.rows, validate=False).remove_columns("image")
    built = datasets.concatenate_datasets([meta_ds, images], axis=1)  # Arrow columns, no decode
    if is_image_feature or image == "image":
        # A Hub image column stays a (lazily decoded) datasets.Image even with image="path":
        # Hub images are often embedded bytes without a file path, so a path column would
        # lose them.
        built = built.cast_column("image", datasets.Image())
    order = list(meta_ds.column_names)
    return built.select_columns(order[:3] + ["image"] + order[3:])
