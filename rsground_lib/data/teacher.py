"""Reasoning traces from a stronger model: the hint prompt, an OpenAI-compatible endpoint
teacher, and rejection sampling of its traces by the IoU of their final box.

A teacher is shown the image, the expression AND the ground-truth box (a hint) and asked to
explain how to find the object; its final box is parsed
(:func:`rsground_lib.prompts.parse_answer`) and the trace kept only when the box reaches
``IoU ≥ iou_threshold`` with the target. The paper distils reasoning from a stronger model;
the hint prompt and the rejection rule are our design. A local transformers checkpoint
teaches through :class:`rsground_lib.teachers.CheckpointTeacher`.

Book chapter: "Data" (``book/02_data.py``).
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence

from rsground_lib import boxes, prompts
from rsground_lib.data import cot

HINT_TEMPLATE = (
    'The image is {width}x{height} pixels. The referring expression is: "{expression}". '
    "The correct bounding box of the described object is {box} (pixels of this image, "
    "x to the right, y downwards). Explain step by step how to find this object from the "
    "expression alone: list the objects of its class with their boxes, apply the position "
    "or attribute words, and pick the right one. Do not mention that the box was given. "
    "Answer as <think>...</think><answer>[x1, y1, x2, y2]</answer>."
)
"""The teacher's user text: the expression AND the ground-truth box (the hint)."""


class TeacherError(RuntimeError):
    """A teacher refused one request (HTTP error, timeout, connection failure, malformed
    reply). Counted by :func:`teacher_traces`; fatal only when every request of a call fails
    (:class:`TeacherBatchError`). Raise it only for such refusals: any other exception of a
    teacher (out of memory, a device mismatch, a bug) propagates."""


class TeacherBatchError(RuntimeError):
    """Every request of a :func:`teacher_traces` call failed with :class:`TeacherError`: the
    teacher is unusable (endpoint down, wrong URL or key), and zero traces must not pass for
    a result. ``counts`` holds the counts of the call, messages included."""

    def __init__(self, message: str, counts: dict):
        super().__init__(message)
        self.counts = counts


def hint_messages(
    record: Mapping,
    *,
    min_pixels: int = boxes.QWEN2VL_MIN_PIXELS,
    max_pixels: int = boxes.QWEN2VL_MAX_PIXELS,
    model_size_fn=None,
) -> list[dict]:
    """The teacher's conversation for one record: the system prompt, then the image and
    :data:`HINT_TEMPLATE` (expression + ground-truth box in model pixels). The paper
    distils reasoning from a stronger model, the hint prompt is our design."""
    model_wh = cot.record_model_size(
        record, model_size_fn, min_pixels=min_pixels, max_pixels=max_pixels
    )
    box_model = cot.record_box_model(record["bbox"], record, model_wh)
    text = HINT_TEMPLATE.format(
        width=model_wh[0],
        height=model_wh[1],
        expression=str(record["expression"]),
        box=prompts.format_box(box_model),
    )
    return [
        {"role": "system", "content": [{"type": "text", "text": prompts.SYSTEM_PROMPT}]},
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": text}]},
    ]


def _png_data_url(image) -> str:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


class EndpointTeacher:
    """A teacher behind an OpenAI-compatible chat-completions endpoint (vLLM, TGI, hosted
    APIs): ``POST {base_url}/chat/completions`` with the image as a base64 PNG data URL;
    the reply's ``choices[0].message.content`` is the trace. Standard library only.

    Any failure of one request — HTTP status ≥ 400, connection error, timeout, a body that
    is not the expected JSON — raises :class:`TeacherError` (counted by
    :func:`teacher_traces`). Our design.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout: float = 120.0,
        *,
        max_tokens: int = 1024,
        temperature: float = 0.7,
    ):
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url: expected an http(s) URL; got {base_url!r}")
        if not isinstance(model, str) or not model:
            raise ValueError(f"model: expected a model name; got {model!r}")
        if not (isinstance(timeout, (int, float)) and timeout > 0):
            raise ValueError(f"timeout: expected seconds > 0; got {timeout!r}")
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.api_key = api_key
        self.timeout = float(timeout)
        self.max_tokens = int(max_tokens)
        self.temperature = float(temperature)

    def payload(self, messages: Sequence[Mapping], image) -> dict:
        """The JSON body for one request (images as ``image_url`` data-URL parts)."""
        out = []
        for m in messages:
            content = m.get("content")
            if isinstance(content, str):
                out.append({"role": m["role"], "content": content})
                continue
            parts = []
            for part in content or []:
                if part.get("type") == "image":
                    parts.append({"type": "image_url", "image_url": {"url": _png_data_url(image)}})
                elif part.get("type") == "text":
                    parts.append({"type": "text", "text": part["text"]})
            out.append({"role": m["role"], "content": parts})
        return {
            "model": self.model,
            "messages": out,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
        }

    def __call__(self, messages: Sequence[Mapping], image) -> str:
        body = json.dumps(self.payload(messages, image)).encode("utf-8")
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raise TeacherError(f"HTTP {exc.code} from {self.url}: {exc.reason}") from exc
        except (
            urllib.error.URLError,
            http.client.HTTPException,
            TimeoutError,
            ConnectionError,
        ) as exc:
            raise TeacherError(f"request to {self.url} failed: {exc!r}") from exc
        try:
            reply = json.loads(raw)
            content = reply["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError, RecursionError) as exc:
            raise TeacherError(
                f"malformed reply from {self.url}: expected JSON with "
                f"choices[0].message.content; got {raw[:200]!r}"
            ) from exc
        if isinstance(content, list):
            content = "".join(
                p.get("text", "")
                for p in content
                if isinstance(p, Mapping) and p.get("type") == "text"
            )
        if not isinstance(content, str):
            raise TeacherError(
                f"malformed reply from {self.url}: content is {type(content).__name__}"
            )
        return content


COUNT_KEYS = ("records", "asked", "kept", "rejected_iou", "rejected_unparsable", "errors")


def teacher_traces(
    records: Iterable[Mapping],
    teacher,
    *,
    iou_threshold: float = 0.5,
    n_samples: int = 1,
    keep: str = "first",
    min_pixels: int = boxes.QWEN2VL_MIN_PIXELS,
    max_pixels: int = boxes.QWEN2VL_MAX_PIXELS,
    model_size_fn=None,
) -> tuple[list[dict], dict]:
    """Distil reasoning traces from a teacher by rejection sampling.

    For each record, ask ``teacher(messages, image)`` (:func:`hint_messages`; the image
    resized to the model-input size) up to ``n_samples`` times; parse each reply's box
    (:func:`rsground_lib.prompts.parse_answer`, model pixels) and keep the trace when its
    IoU with the target reaches ``iou_threshold``. ``keep="first"`` stops at the first kept
    trace of a record, ``keep="all"`` keeps every passing sample. A kept record is the input
    record plus ``cot`` (the teacher's text), ``cot_iou``, ``cot_sample`` and ``cot_format_ok``
    (:func:`rsground_lib.prompts.check_format`).

    Returns ``(kept_records, counts)``; ``counts`` has ``records``, ``asked``, ``kept``,
    ``rejected_iou``, ``rejected_unparsable``, ``errors`` (a :class:`TeacherError` — HTTP
    error, timeout, malformed reply — is counted per request) and ``error_messages``
    (``"<record id>: <reason>"``). Only a :class:`TeacherError` is counted: any other
    exception of the teacher (out of memory, a device mismatch) propagates, and a reply that
    is not a string is a ``TypeError`` naming the record. When every request failed
    (``errors == asked > 0``) the call raises :class:`TeacherBatchError` with the count and
    the first messages instead of returning zero traces. The paper's CoT data from a
    stronger model, the rejection rule is our design.
    """
    if not (isinstance(iou_threshold, (int, float)) and 0.0 <= iou_threshold <= 1.0):
        raise ValueError(f"iou_threshold: expected a number in [0, 1]; got {iou_threshold!r}")
    if not isinstance(n_samples, int) or n_samples < 1:
        raise ValueError(f"n_samples: expected an integer >= 1; got {n_samples!r}")
    if keep not in ("first", "all"):
        raise ValueError(f"keep: expected 'first' or 'all'; got {keep!r}")
    if not callable(teacher):
        raise ValueError("teacher: expected a callable teacher(messages, image) -> str")
    from PIL import Image

    counts: dict = dict.fromkeys(COUNT_KEYS, 0)
    counts["error_messages"] = []
    kept: list[dict] = []
    resize = {"min_pixels": min_pixels, "max_pixels": max_pixels}
    for record in records:
        counts["records"] += 1
        rid = record.get("id", f"#{counts['records'] - 1}")
        model_wh = cot.record_model_size(record, model_size_fn, **resize)
        target = cot.record_box_model(record["bbox"], record, model_wh)
        image = cot.record_image(record)
        if image.size != tuple(model_wh):
            image = image.resize(tuple(model_wh), Image.BICUBIC)
        messages = hint_messages(record, model_size_fn=model_size_fn, **resize)
        for k in range(n_samples):
            counts["asked"] += 1
            try:
                text = teacher(messages, image)
            except TeacherError as exc:
                counts["errors"] += 1
                counts["error_messages"].append(f"{rid}: {exc}")
                continue
            if not isinstance(text, str):
                raise TypeError(
                    f"{rid}: the teacher returned {type(text).__name__}, expected the reply text "
                    "(str); raise TeacherError for a refused request"
                )
            box = prompts.parse_answer(text)
            if box is None:
                counts["rejected_unparsable"] += 1
                continue
            score = float(boxes.iou(box, target))
            if score < iou_threshold:
                counts["rejected_iou"] += 1
                continue
            counts["kept"] += 1
            out = dict(record)
            out.update(
                cot=text,
                cot_iou=score,
                cot_sample=k,
                cot_format_ok=bool(prompts.check_format(text)),
            )
            kept.append(out)
            if keep == "first":
                break
    if counts["asked"] and counts["errors"] == counts["asked"]:
        first = counts["error_messages"][:3]
        more = len(counts["error_messages"]) - len(first)
        raise TeacherBatchError(
            f"teacher_traces: all {counts['asked']} teacher requests failed "
            f"({counts['records']} records); first: "
            + "; ".join(first)
            + (f"; ... and {more} more" if more else ""),
            counts,
        )
    return kept, counts
