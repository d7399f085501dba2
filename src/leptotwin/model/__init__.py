"""The mechanistic model: PK, pathway, cells in a dish, tumour clones, cohorts, patients, tissue.

Names are loaded lazily (see ``leptotwin._lazy``).
"""

from leptotwin._lazy import lazy_exports

_EXPORTS = {
    "COMPARTMENTS": "pk",
    "Metabolite": "pk",
    "PKResult": "pk",
    "PKStream": "pk",
    "SubjectPK": "pk",
    "draw_subjects": "pk",
    "simulate_pk": "pk",
    "ROUTES": "regimen",
    "Regimen": "regimen",
    "parse_regimen": "regimen",
    "CellState": "pathway",
    "PathwayModel": "pathway",
    "cell_state": "pathway",
    "grow_culture": "culture",
    "absolute_ic50": "culture",
    "Clone": "tumor",
    "TumorParameters": "tumor",
    "default_clones": "tumor",
    "Arm": "cohort",
    "CohortResult": "cohort",
    "SimulationCancelled": "cohort",
    "simulate_lmc": "cohort",
    "PatientGroup": "patients",
    "simulate_csf_areg": "patients",
    "study_groups": "patients",
    "BrainSection": "tissue",
    "make_section": "tissue",
    "tissue_concentrations": "tissue",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
