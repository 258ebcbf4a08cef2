"""LSNN vs LIF-only, next to the paper's numbers: reads run folders, writes a Markdown table.

    python analysis/paper_table.py RUN_DIR [RUN_DIR ...] [--out table.md]

Each run folder is one `lsnn-bio train` output (summary.json, metrics.jsonl,
checkpoint.safetensors). Rows are grouped by task; the paper's column is filled
where the reference gives a number for that experiment (lsnn-paper.md, Table S1
and section 3.2), and left empty where it gives none.
"""

import argparse
import json
from pathlib import Path

# experiment name -> (what the paper reports, source)
PAPER = {
    "smnist": ("94.2 % mean, 94.7 % best of 12 runs (test accuracy)", "Table S1"),
    "smnist_lif": ("60.9 % mean, 63.3 % best (test accuracy)", "Table S1"),
    "store_recall": ("solved: recall error < 5 % (tutorial early stop)", "section 3.2"),
    "store_recall_lif": ("expected to fail (LIF-only control)", "section 3.2"),
}


def read_run(folder):
    from lsnn_bio.training.run_folder import folder_of

    folder = folder_of(folder)
    summary = json.loads((folder / "summary.json").read_text())
    if "test_accuracy" not in summary:
        from lsnn_bio.errors import LsnnBioError

        raise LsnnBioError(
            f"{folder}: its summary has no test_accuracy "
            "(accepted: classification runs such as store_recall or smnist; the learning-to-learn figures are "
            "drawn by l2l_mse_by_example.py and navigation_learning_curve.py)"
        )
    records = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines() if line]
    train = [r for r in records if r["split"] == "train"]
    summary["wall_seconds"] = sum(r["seconds"] for r in train)
    summary["final_train_accuracy"] = train[-1]["accuracy"] if train else None
    return summary


def table(runs):
    lines = [
        "| experiment | iterations | test accuracy | test error | mean rate | training time | paper |",
        "|---|---|---|---|---|---|---|",
    ]
    for summary in sorted(runs, key=lambda s: s["experiment"]):
        paper = PAPER.get(summary["experiment"], ("", ""))
        lines.append(
            f"| {summary['experiment']} | {summary['iterations']}{' (early stop)' if summary.get('stopped_early') else ''} "
            f"| {100 * summary['test_accuracy']:.1f} % ({summary['test_windows']} decisions) | {100 * summary['test_error']:.1f} % "
            f"| {summary['test_rate_hz']:.1f} Hz | {summary['wall_seconds'] / 60:.1f} min "
            f"| {paper[0]}{f' ({paper[1]})' if paper[1] else ''} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="run folders written by lsnn-bio train")
    parser.add_argument("--out", help="write the Markdown table here as well")
    args = parser.parse_args(argv)
    from lsnn_bio.errors import one_line_errors

    with one_line_errors("paper_table"):
        text = table([read_run(folder) for folder in args.runs])
        print(text)
        if args.out:
            Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
