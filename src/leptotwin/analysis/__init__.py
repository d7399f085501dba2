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
    "RelativeExpressionFitter": "qpcr",
    "amplification_efficiency": "qpcr",
    "plot_fold_change": "qpcr",
    "read_qpcr": "qpcr",
    "relative_expression": "qpcr",
    "compare_arrays": "densitometry",
    "detect_lanes": "densitometry",
    "normalise_bands": "densitometry",
    "quantify_array": "densitometry",
    "quantify_bands": "densitometry",
    "quantify_blot": "densitometry",
    "read_array_layout": "densitometry",
    "read_image": "densitometry",
    "subtract_background": "densitometry",
    "summarise_array": "densitometry",
    "write_annotated": "densitometry",
    "SynergyResult": "synergy",
    "plot_synergy_heatmap": "synergy",
    "plot_synergy_surface": "synergy",
    "read_synergy": "synergy",
    "synergy_scores": "synergy",
    "ImzMLFile": "msi",
    "ion_image": "msi",
    "normalise": "msi",
    "plot_ion_image": "msi",
    "read_imzml": "msi",
    "read_mask_png": "msi",
    "roi_stats": "msi",
    "suppress_hotspots": "msi",
    "tissue_mask": "msi",
    "TissueMask": "msi",
    "compare_groups": "biomarker",
    "dunn_test": "biomarker",
    "kruskal_wallis": "biomarker",
    "plot_groups": "biomarker",
    "roc_auc": "biomarker",
}

__getattr__, __dir__, __all__ = lazy_exports(__name__, _EXPORTS)
