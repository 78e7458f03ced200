"""A deterministic simulator of the money path (``make sim``): our real code on in-memory ports, one seeded random
source deciding every interleaving and fault, invariants checked as it runs. See docs/simulation.md."""
