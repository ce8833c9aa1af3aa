"""Data: the common record, the real-benchmark readers, the positional-cue tagger, the
synthetic scenes and expressions, and the reasoning traces. Importing the package imports
none of them.

Book chapter: "Data" (``book/02_data.py``).
"""
