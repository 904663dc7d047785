"""One module per rule of the world; each is a pure function of the state (SPEC section 4 order)."""
