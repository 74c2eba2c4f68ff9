"""Lowest layer: errors, the registry, the trust list, provenance, atomic writes, optional imports and config models. Imports nothing else of medalist."""
