"""Table 1 (the datasets: classes, training and validation images) from the stamps the data checks wrote
(results/<preset>/data/<dataset>.json) for the datasets present, beside the paper's numbers. A preset that
regenerates paper tables gets one: tables/table1.md (paper), tables/smoke/table1.md (synthetic stand-ins)."""
from __future__ import annotations

import json
from pathlib import Path

from methods.plan import config
from methods.runs.checksums import checksum_status, fetch_status
from methods.plan.facts import published_checksums
from methods.plan.grid import table_names
from methods.plan.layout import stamp_path, table_target
from methods.report.tables import paper_values

COLUMNS = {"N": ("train", "classes"), "# Training": ("train", "samples"), "# Validation": ("val", "samples")}


def table1_presets() -> list[str]:
    return [preset for preset in config.presets()
            if any(config.grid()[name].get("paper_table") for name in table_names(preset))]


def table1_target(preset: str) -> Path:
    return table_target(preset, "table1")


def preset_of_table1(target: str) -> str | None:
    stem = str(Path(target).with_suffix(""))
    return next((p for p in table1_presets() if str(table1_target(p)) == stem), None)


def paper_datasets() -> dict[str, str]:
    """Table 1's row name -> the suite's dataset key, in the paper's order."""
    by_name = {facts.get("paper_name"): key for key, facts in config.load("datasets").items()}
    rows = dict.fromkeys(row for (table, row, _, _) in paper_values() if table == "table1")
    return {row: by_name[row] for row in rows}


def table1_frame(preset: str, root: Path = Path(".")):
    import pandas as pd   # pandas (~0.4 s): only the CSV writers need it
    paper = paper_values()
    records = []
    for row, dataset in paper_datasets().items():
        path = root / stamp_path(preset, dataset)
        stamp = json.loads(path.read_text()) if path.exists() else None
        record = {"dataset": row, "key": dataset}
        for column, (split, field) in COLUMNS.items():
            ours = None if stamp is None else stamp[split][field]
            record[f"{column} ours"] = ours
            record[f"{column} paper"] = int(paper[("table1", row, column, "count")])
        record["status"] = ("not checked" if stamp is None else "as the paper" if all(
            record[f"{c} ours"] == record[f"{c} paper"] for c in COLUMNS) else "differs")
        record["files"] = (checksum_status(stamp and stamp.get("copy"), published_checksums(dataset))
                           + fetch_status(stamp and stamp.get("fetched")))
        records.append(record)
    return pd.DataFrame(records)


def _display(frame):
    """One column per quantity, `ours / paper` (ours '—' where the dataset was not checked)."""
    shown = frame[["dataset"]].copy()
    for column in COLUMNS:
        shown[column] = [f"{'—' if ours is None or ours != ours else f'{int(ours):,}'} / {paper:,}"
                         for ours, paper in zip(frame[f"{column} ours"], frame[f"{column} paper"])]
    shown["status"] = frame["status"]
    shown["files"] = frame["files"]
    return shown


def write_table1(preset: str, root: Path = Path(".")) -> list[Path]:
    frame = table1_frame(preset, root)
    base = root / table1_target(preset)
    base.parent.mkdir(parents=True, exist_ok=True)
    description = config.preset(preset)["description"]
    checked = int((frame["status"] != "not checked").sum())
    title = f"# table1 [{preset} preset] The datasets: classes and split sizes, ours / paper"
    legend = [f"Preset {preset}: {description}.",
              f"Ours: what the data check of each dataset present found ({checked} of {len(frame)} checked; "
              "results/<preset>/data/<dataset>.json, written by `snakemake results/<preset>/data/<dataset>.json`).",
              "A dataset not on disk reads '—'; 'differs' names a copy whose sizes are not the paper's.",
              "files: the data check records each file's size, SHA-256 and MD5 (folders of more than "
              "64 files are counted, not hashed) and compares the MD5s with the published ones "
              "(config/datasets.yaml published_md5) where there are such."]
    shown = _display(frame)
    markdown = "\n".join([title, "", shown.to_markdown(index=False), "", *[f"- {line}" for line in legend]]) + "\n"
    paths = [base.with_suffix(".md"), base.with_suffix(".tex"), base.with_suffix(".csv")]
    paths[0].write_text(markdown)
    paths[1].write_text(shown.to_latex(index=False, caption=title.lstrip("# "), escape=True))
    paths[2].write_text(frame.to_csv(index=False))
    return paths
