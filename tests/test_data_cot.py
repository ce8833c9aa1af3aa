"""Chain-of-thought traces (rsground_lib.data.cot): templates, SFT examples and the teacher
path, the latter end to end against a small OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import base64
import io
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from PIL import Image

from rsground_lib import boxes, models, prompts, teachers
from rsground_lib.data import cot
from rsground_lib.data import synthetic as sy
from rsground_lib.data import teacher as teacher_mod
from rsground_lib.vocabulary import CUE_TAGS


@pytest.fixture(scope="module")
def records():
    """Rendered records of every cue (224 px)."""
    out = []
    for cue in CUE_TAGS:
        recs, _ = sy.make_records(2, seed=31, start=0, image_size=224, cue_mix={cue: 1})
        out += recs
    return out


# ----------------------------------------------------------------------------- templates


def test_template_trace_contract_and_box(records):
    for rec in records:
        trace = cot.template_trace(rec)
        assert prompts.check_format(trace), trace
        box = prompts.parse_answer(trace)
        expected = [float(round(v)) for v in rec["bbox"]]  # 224 px: model size = original
        assert box == expected
        think = trace.split("</think>")[0]
        assert rec["expression"] in think
        steps = json.loads(rec["resolver_steps"])
        n_candidates = len(steps[0]["candidates"])
        if n_candidates > 1:
            assert str(n_candidates) in think


def test_template_trace_mentions_the_cue(records):
    words = {
        "absolute": "3×3",
        "ordinal": "Sorted",
        "extreme": "rder",
        "size": "areas",
        "color": "olour",
        "relative": "reference",
    }
    for rec in records:
        key = words.get(rec["cue_type"])
        if key is None:
            continue
        think = cot.template_trace(rec, seed=0) + cot.template_trace(rec, seed=1)
        if rec["cue_type"] in ("absolute", "extreme", "ordinal"):
            alternatives = {
                "absolute": ("3×3", "thirds"),
                "extreme": ("rder", "Sorted"),
                "ordinal": ("Sorted", "rdering"),
            }
            assert any(a in think for a in alternatives[rec["cue_type"]]), think
        else:
            assert key in think, think


def test_template_trace_seeded_wording(records):
    rec = records[0]
    assert cot.template_trace(rec, seed=3) == cot.template_trace(rec, seed=3)
    assert cot.template_trace(rec) == cot.template_trace(rec)  # seeded by the id
    variants = {cot.template_trace(rec, seed=s) for s in range(12)}
    assert len(variants) >= 2
    rng = np.random.default_rng(0)
    assert prompts.check_format(cot.template_trace(rec, rng=rng))


def test_template_trace_uses_model_pixels():
    """At 800 px the model sees 812 × 812 (multiples of 28): every box in the trace is
    scaled by 812 / 800."""
    recs, _ = sy.make_records(1, seed=5, image_size=800, render=False, cue_mix={"ordinal": 1})
    rec = recs[0]
    assert boxes.model_size((800, 800)) == (812, 812)
    trace = cot.template_trace(rec)
    expected = [float(round(v * 812 / 800)) for v in rec["bbox"]]
    assert prompts.parse_answer(trace) == expected
    for o in rec["objects"]:
        if o["category"] == rec["category"]:
            assert prompts.format_box([v * 812 / 800 for v in o["bbox"]]) in trace
    custom = cot.template_trace(rec, model_size_fn=lambda w, h: (400, 400))
    assert prompts.parse_answer(custom) == [float(round(v / 2)) for v in rec["bbox"]]


def test_template_trace_needs_synthetic_columns():
    with pytest.raises(ValueError, match="resolver_steps"):
        cot.template_trace({"id": "x", "expression": "a", "bbox": [0, 0, 1, 1], "width": 9})


# ----------------------------------------------------------------------------- teacher


class _ChatServer:
    """An OpenAI-compatible chat-completions server in a thread, answering request k with
    ``modes[k]``; bounded (a deadline and a request budget) and stopped by the test."""

    def __init__(self, modes, deadline_s=60.0):
        self.modes = list(modes)
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep the test output clean
                return

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length))
                with outer.lock:
                    k = len(outer.requests)
                    outer.requests.append(
                        {"path": self.path, "body": body, "auth": self.headers.get("Authorization")}
                    )
                mode = outer.modes[k] if k < len(outer.modes) else "500"
                text = body["messages"][1]["content"][1]["text"]
                hint = re.search(r"box of the described object is \[([^\]]*)\]", text)
                x1, y1, x2, y2 = (int(v) for v in hint.group(1).split(","))
                if mode == "500":
                    self.send_error(500, "boom")
                    return
                if mode == "slow":
                    time.sleep(1.5)
                if mode == "short":  # promises 1000 bytes, sends 10, closes: IncompleteRead
                    self.send_response(200)
                    self.send_header("Content-Length", "1000")
                    self.end_headers()
                    self.wfile.write(b'{"choices"')
                    return
                if mode == "badjson":
                    payload = b"this is not json"
                elif mode == "deep":  # nesting that json.loads cannot follow
                    payload = b"[" * 100_000 + b"]" * 100_000
                else:
                    if mode == "correct":
                        content = (
                            f"<think>found it</think><answer>[{x1}, {y1}, {x2}, {y2}]</answer>"
                        )
                    elif mode == "wrong":
                        content = f"<think>hmm</think><answer>[{x1 + 60}, {y1 + 60}, {x2 + 60}, {y2 + 60}]</answer>"
                    else:  # garbage
                        content = "I am not sure what to answer."
                    payload = json.dumps(
                        {
                            "choices": [
                                {"index": 0, "message": {"role": "assistant", "content": content}}
                            ]
                        }
                    ).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    return  # the client gave up (timeout test)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.timeout = 0.1
        self.server.daemon_threads = True
        self.stop = threading.Event()
        self.deadline = time.monotonic() + deadline_s
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self):
        while not self.stop.is_set() and time.monotonic() < self.deadline:
            self.server.handle_request()

    @property
    def base_url(self):
        host, port = self.server.server_address
        return f"http://{host}:{port}/v1"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=5)
        self.server.server_close()


def test_endpoint_teacher_exact_counts(records):
    recs = records[:7]
    modes = ["correct", "wrong", "garbage", "500", "correct", "badjson", "slow"]
    with _ChatServer(modes) as server:
        teacher = teacher_mod.EndpointTeacher(
            server.base_url, "teacher-model", api_key="k123", timeout=0.5
        )
        kept, counts = teacher_mod.teacher_traces(recs, teacher, iou_threshold=0.5)
        requests = list(server.requests)
    assert {k: counts[k] for k in teacher_mod.COUNT_KEYS} == {
        "records": 7,
        "asked": 7,
        "kept": 2,
        "rejected_iou": 1,
        "rejected_unparsable": 1,
        "errors": 3,
    }
    assert len(counts["error_messages"]) == 3
    assert (
        counts["error_messages"][0].startswith(recs[3]["id"])
        and "HTTP 500" in counts["error_messages"][0]
    )
    assert "malformed" in counts["error_messages"][1]
    assert recs[6]["id"] in counts["error_messages"][2]
    assert [k["id"] for k in kept] == [recs[0]["id"], recs[4]["id"]]
    assert all(k["cot_iou"] >= 0.5 and k["cot_format_ok"] for k in kept)
    # the request: OpenAI chat format, image as a PNG data URL, the hint box, the key
    req = requests[0]
    assert req["path"] == "/v1/chat/completions" and req["auth"] == "Bearer k123"
    body = req["body"]
    assert body["model"] == "teacher-model"
    parts = body["messages"][1]["content"]
    url = parts[0]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    image = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert image.size == boxes.model_size((224, 224))
    assert recs[0]["expression"] in parts[1]["text"]
    assert prompts.format_box(recs[0]["bbox"]) in parts[1]["text"]


def test_endpoint_teacher_rejection_sampling(records):
    rec = records[:1]
    with _ChatServer(["wrong", "correct", "correct"]) as server:
        teacher = teacher_mod.EndpointTeacher(server.base_url, "m", timeout=5)
        kept, counts = teacher_mod.teacher_traces(rec, teacher, n_samples=3)
    assert (counts["asked"], counts["kept"], counts["rejected_iou"]) == (2, 1, 1)
    assert kept[0]["cot_sample"] == 1
    with _ChatServer(["wrong", "correct", "correct"]) as server:
        teacher = teacher_mod.EndpointTeacher(server.base_url, "m", timeout=5)
        kept, counts = teacher_mod.teacher_traces(rec, teacher, n_samples=3, keep="all")
    assert (counts["asked"], counts["kept"]) == (3, 2)


def test_unreachable_endpoint_is_an_error_not_zero_traces(records):
    with _ChatServer([]) as server:
        url = server.base_url
    teacher = teacher_mod.EndpointTeacher(url, "m", timeout=0.5)  # the server is closed now
    with pytest.raises(teacher_mod.TeacherBatchError, match="all 2 teacher requests failed") as err:
        teacher_mod.teacher_traces(records[:2], teacher)
    assert err.value.counts["errors"] == err.value.counts["asked"] == 2
    assert records[0]["id"] in str(err.value) and "Connection refused" in str(err.value)


# Issue 11, finding 7: only the teacher's own refusals are counted; 6 failures of 6 requests
# are an error, not zero traces.


def test_six_failures_of_six_requests_are_an_error(records):
    recs = records[:6]
    with _ChatServer(["500"] * 6) as server:
        teacher = teacher_mod.EndpointTeacher(server.base_url, "m", timeout=5)
        with pytest.raises(teacher_mod.TeacherBatchError) as err:
            teacher_mod.teacher_traces(recs, teacher)
    message = str(err.value)
    assert message.startswith("teacher_traces: all 6 teacher requests failed (6 records); first: ")
    assert message.count("HTTP 500") == 3 and "... and 3 more" in message
    assert recs[0]["id"] in message
    counts = err.value.counts
    assert (counts["asked"], counts["errors"], counts["kept"]) == (6, 6, 0)
    assert len(counts["error_messages"]) == 6


def test_some_failures_are_counted_not_raised(records):
    with _ChatServer(["500", "500", "correct"]) as server:
        teacher = teacher_mod.EndpointTeacher(server.base_url, "m", timeout=5)
        kept, counts = teacher_mod.teacher_traces(records[:3], teacher)
    assert (counts["errors"], counts["kept"]) == (2, 1) and len(kept) == 1


def test_broken_transfers_are_counted_refusals(records):
    """A reply cut short (http.client.IncompleteRead) or nested too deep for json
    (RecursionError) is the endpoint's malformed reply, counted like a 500."""
    with _ChatServer(["short", "deep", "correct"]) as server:
        teacher = teacher_mod.EndpointTeacher(server.base_url, "m", timeout=5)
        kept, counts = teacher_mod.teacher_traces(records[:3], teacher)
    assert (counts["errors"], counts["kept"]) == (2, 1), counts["error_messages"]
    assert "IncompleteRead" in counts["error_messages"][0]
    assert "malformed reply" in counts["error_messages"][1]


def test_other_exceptions_of_a_teacher_propagate(records):
    def broken(messages, image):
        raise KeyError("bug in the teacher")

    with pytest.raises(KeyError, match="bug in the teacher"):
        teacher_mod.teacher_traces(records[:2], broken)
    with pytest.raises(TypeError, match=rf"{records[0]['id']}: the teacher returned NoneType"):
        teacher_mod.teacher_traces(records[:2], lambda m, i: None)


def test_teacher_argument_checks(records):
    with pytest.raises(ValueError, match="base_url"):
        teacher_mod.EndpointTeacher("localhost:8000", "m")
    with pytest.raises(ValueError, match="iou_threshold"):
        teacher_mod.teacher_traces(records[:1], lambda m, i: "", iou_threshold=2)
    with pytest.raises(ValueError, match="n_samples"):
        teacher_mod.teacher_traces(records[:1], lambda m, i: "", n_samples=0)


def test_callable_teacher(records):
    """Any callable works; the hint carries the box in model pixels."""

    def teacher(messages, image):
        text = messages[1]["content"][1]["text"]
        box = re.search(r"is (\[[^\]]*\])", text).group(1)
        return f"<think>ok</think><answer>{box}</answer>"

    kept, counts = teacher_mod.teacher_traces(records[:3], teacher)
    assert counts["kept"] == 3 and len(kept) == 3


@pytest.fixture(scope="module")
def tiny_qwen():
    return models.build_tiny_model(0, family="qwen2_5_vl")


def test_checkpoint_teacher_end_to_end(records, tiny_qwen):
    model, processor = tiny_qwen
    teacher = teachers.CheckpointTeacher(model=model, processor=processor, max_new_tokens=6)
    kept, counts = teacher_mod.teacher_traces(records[:1], teacher)
    assert counts["asked"] == 1
    assert counts["kept"] + counts["rejected_iou"] + counts["rejected_unparsable"] == 1
    assert counts["errors"] == 0, counts["error_messages"]


@pytest.mark.parametrize(
    "failure",
    [
        "CUDA out of memory. Tried to allocate 20.00 GiB",
        "Expected all tensors to be on the same device, but found at least two devices, "
        "cuda:0 and cpu!",
    ],
)
def test_checkpoint_teacher_runtime_errors_propagate(records, tiny_qwen, monkeypatch, failure):
    """Out of memory or a device mismatch is not the teacher refusing one request: it stops
    the run with the original error (it was a counted TeacherError, 6 of 6 → zero traces)."""
    model, processor = tiny_qwen
    teacher = teachers.CheckpointTeacher(model=model, processor=processor, max_new_tokens=6)
    calls = []

    def generate(**kwargs):
        calls.append(kwargs)
        raise RuntimeError(failure)

    monkeypatch.setattr(model, "generate", generate)
    with pytest.raises(RuntimeError, match=re.escape(failure)) as err:
        teacher_mod.teacher_traces(records[:6], teacher)
    assert not isinstance(err.value, (teacher_mod.TeacherError, teacher_mod.TeacherBatchError))
    assert len(calls) == 1  # the first failure stops the run


def test_checkpoint_teacher_checks_a_local_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        teachers.CheckpointTeacher(str(tmp_path / "no-teacher"))
