"""The hash every stored id is made of. Never change it: the ids in every database depend on it."""

import hashlib
import json


def stable_hash(value) -> str:
    """A short, stable hash of any JSON-serialisable value."""
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]
