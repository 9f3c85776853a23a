"""Text shown as it is: record values and typed input are never read as Rich markup."""

from __future__ import annotations

from textual.widgets import Static


class Plain(Static):
    """A Static whose text is literal (``[B]`` stays ``[B]``; ``[bold`` cannot break it)."""

    def __init__(self, content: object = "", **kwargs) -> None:
        kwargs.setdefault("markup", False)
        super().__init__(content, **kwargs)
