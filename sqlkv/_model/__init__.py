"""Layer 1, the model: sqlkv's values and rules, with no I/O.

Owns the exception tree, entries and operations, bucket configuration, store
options, watch options and the validation of everything a caller hands in.
May import: the standard library only (no other sqlkv layer).
"""
