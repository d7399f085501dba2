"""Analysis of real or virtual lab data: one module per kind of data.

Never imports the model: what a virtual instrument writes is read here exactly as a real file.
Names are loaded lazily (see ``leptotwin._lazy``).
"""

from leptotwin._lazy import lazy_exports

_EXPORTS = {
    # dose-response (R drc models, batched)
    "DoseResponseFitter": "doseresponse",
    "FitStatus": "doseresponse",
    "fold_resistance": "doseresponse",
    "gr_metrics": "doseresponse",
    "gr_values": "doseresponse",
    "read_dose_response": "doseresponse",
    "dose_at_top_fraction": "curve_stats",
    "prediction_band": "curve_stats",
    "log_ratio_ci": "ratios",
    # ELISA standard curves
    "StandardCurveFitter": "standard_curve",
    "read_elisa": "standard_curve",
    "read_elisa_layout": "standard_curve",
    "spike_recovery": "standard_curve",
    # tumour growth (BLI) and survival
    "read_bli": "growth",
    "growth_curves": "growth",
    "summarize_growth": "growth",
    "end_of_study_fold_change": "growth",
    "compare_growth": "growth",
    "plot_growth": "growth",
    "kaplan_meier": "survival",
    "median_survival": "survival",
    "pairwise_logrank": "survival",
    "multigroup_logrank": "survival",
    "cox_hazard_ratios": "survival",
    "adjust_pvalues": "survival",
    "plot_km": "survival",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
