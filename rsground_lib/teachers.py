"""A teacher of the CoT data that runs a checkpoint (a local folder or a hub id) with
transformers; the endpoint teacher and the rejection sampling of traces are in
:mod:`rsground_lib.data.teacher`.

Book chapter: "Data" (``book/02_data.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rsground_lib import generation, models


class CheckpointTeacher:
    """A teacher from a local or hub checkpoint loaded with transformers
    (``AutoProcessor`` + ``AutoModelForImageTextToText``, e.g. a Qwen2.5-VL-72B-Instruct);
    generation with the checkpoint's chat template. ``trust_remote_code`` stays off unless
    asked. A local folder is checked first (:func:`rsground_lib.checkpoints.check_checkpoint`).

    A local model cannot *refuse* a request the way an endpoint can (HTTP error, timeout,
    malformed reply), so no exception of a generation is turned into a counted
    :class:`rsground_lib.data.teacher.TeacherError`: out of memory, a device mismatch or a
    bad input propagates and stops :func:`rsground_lib.data.teacher.teacher_traces` — it
    would fail every later request the same way. A reply without a parsable box is counted
    by ``teacher_traces`` as ``rejected_unparsable``. Our design.
    """

    def __init__(
        self,
        model_path_or_id: str | None = None,
        *,
        model=None,
        processor=None,
        max_new_tokens: int = 512,
        do_sample: bool = False,
        temperature: float = 0.7,
        device: str | None = None,
        dtype=None,
        trust_remote_code: bool = False,
    ):
        if model is None or processor is None:
            if not model_path_or_id:
                raise ValueError("CheckpointTeacher: give model_path_or_id, or model and processor")
            from transformers import AutoModelForImageTextToText, AutoProcessor

            model_path_or_id = models.resolve_checkpoint(model_path_or_id, weights=model is None)
            processor = processor or AutoProcessor.from_pretrained(
                model_path_or_id, trust_remote_code=trust_remote_code
            )
            kwargs = {"trust_remote_code": trust_remote_code}
            if dtype is not None:
                kwargs["dtype"] = dtype
            model = model or AutoModelForImageTextToText.from_pretrained(model_path_or_id, **kwargs)
        if device is not None:
            model = model.to(device)
        self.model = model.eval()
        self.processor = processor
        self.max_new_tokens = int(max_new_tokens)
        self.do_sample = bool(do_sample)
        self.temperature = float(temperature)

    def __call__(self, messages: Sequence[Mapping], image) -> str:
        text = self.processor.apply_chat_template(
            list(messages), add_generation_prompt=True, tokenize=False
        )
        inputs = self.processor(
            text=[text],
            images=[image],
            return_tensors="pt",
            **models.processor_call_kwargs(self.processor),
        )
        inputs = inputs.to(self.model.device)
        gen = {"max_new_tokens": self.max_new_tokens, "do_sample": self.do_sample}
        if self.do_sample:
            gen["temperature"] = self.temperature
        new = generation.new_token_ids(self.model, inputs, **gen)
        return self.processor.batch_decode(new, skip_special_tokens=True)[0]
