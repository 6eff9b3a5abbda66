"""``baton demo``: the whole BATON loop on the built-in sound world."""
