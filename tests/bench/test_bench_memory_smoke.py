"""bench/memory.py in its smoke mode: it runs, ingests every record once, and reports peak RSS.

Not a timed test and not a memory assertion (a small file says little about the 10% goal): it
only proves the benchmark works, so that the full run (`python bench/memory.py`) can be trusted.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.bench_smoke
@pytest.mark.parametrize("file_format", ["jsonl", "csv", "parquet"])
def test_the_memory_benchmark_runs_in_smoke_mode(tmp_path, file_format):
    summary_file = tmp_path / "memory.json"
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "memory.py"),
            "--smoke",
            "--small-mb",
            "1" if file_format == "parquet" else "2",  # Parquet packs ~30 times more records per MB
            "--large-mb",
            "3" if file_format == "parquet" else "8",
            "--format",
            file_format,
            "--dir",
            str(tmp_path),
            "--json",
            str(summary_file),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(summary_file.read_text())
    assert summary["complete"] is True
    small, large = summary["results"]
    assert large["bytes"] > 2 * small["bytes"]
    for result in (small, large):
        assert result["read"] == result["written"] == result["records"] > 0
        # The planner sends one message per chunk (one per CSV file) and reads only the first few KiB.
        chunks = 1 if file_format == "csv" else -(-result["bytes"] // summary["chunk_size"])
        assert result["messages"] == result["chunks_expected"] == chunks
        assert result["planner_bytes_read"] <= 4096
        assert result["ingest_peak_rss_bytes"] > 0
    assert summary["ingest_environment"] == {"MALLOC_MMAP_THRESHOLD_": "1048576", "ARROW_DEFAULT_MEMORY_POOL": "system"}
    assert "peak RSS ratio large/small" in done.stdout
