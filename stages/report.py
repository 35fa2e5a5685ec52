"""Stage `report`: metrics/summary.json, report.md, report/*.png and surprise pages; and
dvc.yaml's `artifacts:` section, every trained model of the run (charlm/compare/artifacts.py).
"""

from charlm.compare.artifacts import write_artifacts
from charlm.compare.report import build_report
from charlm.core.entry import run_main, stage_args


def main() -> None:
    _, params = stage_args(__doc__)
    summary = build_report({c: ["ngram", *params.models_of(c), "mix"] for c in params.run.corpora})
    for corpus, ms in summary.items():
        best = min(ms, key=lambda m: ms[m]["val_bpc"])
        print(f"{corpus}: best on val {best}: val {ms[best]['val_bpc']:.4f}, "
              f"test {ms[best]['test_bpc']:.4f} bpc")
    if write_artifacts(params):
        print("dvc.yaml: artifacts: updated to the run's models (commit it with dvc.lock)")


if __name__ == "__main__":
    run_main(main)
