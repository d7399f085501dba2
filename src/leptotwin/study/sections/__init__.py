"""Sections of ``leptotwin reproduce``; each module registers itself (see study/reproduce.py)."""
