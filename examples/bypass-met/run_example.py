"""SYNTHETIC example: resistance through a second bypass receptor (MET, activated by HGF).

Run from the repository root:

    .venv/bin/python examples/bypass-met/run_example.py

It adds the bypass block ``bypass.yaml`` (next to this script) to the packaged catalogue and
prints noise-free 72 h alectinib IC50s (the model's dose-response, as the virtual plate reader
would see it without noise) with and without HGF, and with a MET or an EGFR inhibitor on top. The
numbers are those of a made-up MET weight (see bypass.yaml): they show what the mechanism does,
not what any cell line does.
"""

from __future__ import annotations

from pathlib import Path

from leptotwin.catalog import load_catalog
from leptotwin.model.culture import absolute_ic50
from leptotwin.model.pathway import PathwayModel, cell_state

HERE = Path(__file__).resolve().parent


def main() -> None:
    packaged = load_catalog()
    with_met = packaged.with_bypass(HERE / "bypass.yaml")  # the catalogue overlay
    # counterfactual through the value overlay: the same catalogue, no HGF in the medium
    no_hgf = with_met.with_values({"bypass.MET.ligand_medium": 0.0})
    culture = dict(
        cells0=packaged.assay_value("culture", "seeding_cells"),
        volume_mL=packaged.assay_value("culture", "medium_volume") * 1e-3,
    )

    def ic50(cat, line, drug="alectinib", **fixed: float) -> float:
        model = PathwayModel.from_catalog(cat)
        state = cell_state(line, catalog=cat)
        return absolute_ic50(model, state, drug, fixed_nM=fixed, **culture)

    print("SYNTHETIC example (examples/bypass-met/bypass.yaml): 72 h absolute IC50, nM")
    print(f"{'cell line':10} {'condition':44} {'IC50':>9} {'fold':>6}")
    for line in ("A925LPE3", "A925L/AR"):
        base = ic50(packaged, line)
        rows = [
            ("alectinib, packaged catalogue (no bypass)", base),
            ("alectinib, MET declared, no HGF", ic50(no_hgf, line)),
            ("alectinib + HGF 50 ng/mL", ic50(with_met, line)),
            ("alectinib + HGF + capmatinib 100 nM", ic50(with_met, line, capmatinib=100.0)),
            ("alectinib + HGF + erlotinib 1 uM", ic50(with_met, line, erlotinib=1000.0)),
            ("alectinib + erlotinib 1 uM, no HGF", ic50(no_hgf, line, erlotinib=1000.0)),
        ]
        for label, value in rows:
            print(f"{line:10} {label:44} {value:9.1f} {value / base:6.2f}")
        criz, criz_hgf = ic50(packaged, line, "crizotinib"), ic50(with_met, line, "crizotinib")
        print(f"{line:10} {'crizotinib (ALK + MET TKI)':44} {criz:9.1f} {1.0:6.2f}")
        print(f"{line:10} {'crizotinib + HGF 50 ng/mL':44} {criz_hgf:9.1f} {criz_hgf / criz:6.2f}")


if __name__ == "__main__":
    main()
