"""What the four deep dives share: the shape of their tables and their throwaway consumer groups."""

from __future__ import annotations

import uuid

Tables = dict[str, list[dict[str, object]]]  # deep-dive table name -> rows


def fresh_group(prefix: str) -> str:
    return f"bench-{prefix}-{uuid.uuid4().hex[:8]}"
