"""The `models` table: catalogue entries (from jobs.catalog) as rows, and what is missing."""

import json

from db.store import now_iso


def model_row(facts: dict) -> dict:
    """A catalogue entry as a row of the `models` table (lists as JSON)."""
    return {
        **facts,
        "norms": json.dumps(facts["norms"]),
        "pretrained_tags": json.dumps(facts["pretrained_tags"]),
        "has_weights": int(facts["has_weights"]),
        "fixed_input_size": int(facts["fixed_input_size"]),
        "updated_at": now_iso(),
    }


def save_catalog(db, entries: list[dict]) -> None:
    with db.atomic():
        db["models"].upsert_all([model_row(e) for e in entries], pk="name")


def uncatalogued_results(db) -> list[str]:
    """Architectures with stored results (e.g. imported from timm's tables) and no catalogue entry."""
    rows = db.query(
        "SELECT model FROM accuracy UNION SELECT model FROM throughput EXCEPT SELECT name FROM models ORDER BY 1"
    )
    return [r["model"] for r in rows]
