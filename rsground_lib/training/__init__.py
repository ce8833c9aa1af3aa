"""Training stages, one module each, around TRL's trainers: ``common`` (trainer arguments,
builder, JSONL log, resume), ``warm_start`` and ``tiny_base`` (the CPU miniature's base
checkpoint), ``sft`` (CoT-SFT), ``rft`` (GRPO with the consistency weight). Importing the
package imports none of them.

Book chapter: "CoT-SFT" (``book/03_cot_sft.py``) and "Reinforcement fine-tuning"
(``book/04_rft.py``).
"""
