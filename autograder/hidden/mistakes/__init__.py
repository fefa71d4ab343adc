"""The hidden halves of catalogues: mistakes whose computation is itself nearly a solution (never shipped)."""
