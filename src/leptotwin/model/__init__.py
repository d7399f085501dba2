"""The mechanistic model: pharmacokinetics (and, in later steps, pathway and tumour)."""

from leptotwin.model.pk import COMPARTMENTS, PKResult, SubjectPK, draw_subjects, simulate_pk
from leptotwin.model.regimen import ROUTES, Regimen, parse_regimen

__all__ = [
    "COMPARTMENTS",
    "ROUTES",
    "PKResult",
    "Regimen",
    "SubjectPK",
    "draw_subjects",
    "parse_regimen",
    "simulate_pk",
]
