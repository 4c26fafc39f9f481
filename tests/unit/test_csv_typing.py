"""CSV files typed as prompto's reader types them (pandas.read_csv, column by column)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from runner.prompts.reader import read_records

CSV = (
    "id,prompt,api,model_name,year,flag,note,parameters-temperature,parameters-max_tokens,"
    "parameters-stream,parameters-seed\n"
    "0,hello,openai,gpt,2024,True,NaN,0.5,10,false,None\n"
    '1,"with, comma",openai,gpt,abc,false,,1,20,true,\n'
    "2,third,openai,gpt,1999,TRUE,null,,30,False,7\n"
)


def _prompto_records(path: Path) -> list[dict[str, Any]]:
    """What prompto's Experiment._read_input_file makes of a CSV, missing cells dropped."""
    frame = pd.read_csv(path)
    params = [c for c in frame.columns if "parameters-" in c]
    rows: list[dict[str, Any]] = []
    for _, row in frame.iterrows():
        record: dict[str, Any] = {
            str(k): v.item() if hasattr(v, "item") else v
            for k, v in row.items()
            if k not in params and not pd.isna(v)
        }
        record["parameters"] = {
            p.removeprefix("parameters-"): (row[p].item() if hasattr(row[p], "item") else row[p])
            for p in params
            if not pd.isna(row[p])
        }
        rows.append(record)
    return rows


def test_cells_are_typed_by_column_as_pandas_does(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_text(CSV)
    records = [r.data for r in read_records(path)]
    assert records == _prompto_records(path)
    first, second, third = records
    assert first["id"] == 0 and isinstance(first["id"], int)  # as prompto writes it
    assert first["year"] == "2024" and second["year"] == "abc"  # a mixed column stays text
    assert first["flag"] is True and second["flag"] is False
    assert "note" not in first and "note" not in second and "note" not in third  # NaN, '', null
    assert first["parameters"] == {"temperature": 0.5, "max_tokens": 10, "stream": False}
    assert second["parameters"]["temperature"] == 1.0
    assert isinstance(second["parameters"]["temperature"], float)
    # An integer column with a missing cell is float in pandas, so in prompto too.
    assert third["parameters"] == {"max_tokens": 30, "stream": False, "seed": 7.0}
    assert not any(isinstance(v, float) and math.isnan(v) for r in records for v in r.values())
    assert [r.key for r in read_records(path)] == ["0", "1", "2"]
