"""Stage `report`: metrics/summary.json, report.md, report/*.png and surprise pages."""

import argparse

from charlm.cli_util import run_main
from charlm.params import load_params
from charlm.report import build_report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--params", default="params.yaml")
    args = ap.parse_args()
    params = load_params(args.params)
    summary = build_report(params.run.corpora, ["ngram", *params.run.models])
    for corpus, ms in summary.items():
        best = min(ms, key=lambda m: ms[m]["test_bpc"])
        print(f"{corpus}: best {best} at {ms[best]['test_bpc']:.4f} test bpc")


if __name__ == "__main__":
    run_main(main)
