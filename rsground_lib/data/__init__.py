"""Data: the common record, the real-benchmark readers and the positional-cue tagger."""
