"""The cleanroom terminal UI (Textual)."""
