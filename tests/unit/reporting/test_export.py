"""CSV exports open safely in a spreadsheet."""

from __future__ import annotations

import csv
import io

from services.reporting.api.csv import _lines


def test_a_text_that_a_spreadsheet_would_run_is_exported_as_text():
    rows = [
        {"case_number": "A", "text": '=HYPERLINK("http://evil.example","点我")', "rank": -1},
        {"case_number": "B", "text": "+86 13800000000 @物业 -楼道", "rank": 2},
        {"case_number": "C", "text": "@SUM(1,2)", "rank": 3},
        {"case_number": "D", "text": "楼道灯不亮 = 三天", "rank": 4},
    ]
    exported = "".join(_lines(rows, {})).lstrip("\ufeff")
    cells = list(csv.DictReader(io.StringIO(exported)))
    assert [c["text"] for c in cells] == [
        '\'=HYPERLINK("http://evil.example","点我")',
        "'+86 13800000000 @物业 -楼道",
        "'@SUM(1,2)",
        "楼道灯不亮 = 三天",
    ]
    assert [c["rank"] for c in cells] == ["-1", "2", "3", "4"]  # numbers stay numbers
