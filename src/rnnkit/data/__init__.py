"""rnnkit.data (see ../shared/DESIGN.md for what this layer owns)."""
