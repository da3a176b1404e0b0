"""The notebooks run end to end on small parameters, and are committed without outputs.

Each notebook's first code cell is tagged `parameters`; the test appends its own values to that
cell (the notebook's defaults stay documented above them) and executes the notebook headless in a
temp working directory. Key cells are tagged too, so the assertions find their output by tag.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
OPE = NOTEBOOKS / "offline_policy_evaluation.ipynb"
REPORT = NOTEBOOKS / "routing_report.ipynb"
POLICIES = ["bandit", "random", "always-premium", "always-cheapest", "static-rules", "oracle"]
# tqdm's bar ("simulate steady:  42%|████▏     | 126/300"), and its warning that a notebook gets text bars.
PROGRESS_BAR = re.compile(r"\d+%\|.*\||IProgress not found")


def code_cells(nb) -> list:
    return [cell for cell in nb.cells if cell.cell_type == "code"]


def tagged(nb, tag: str):
    cells = [cell for cell in nb.cells if tag in cell.metadata.get("tags", [])]
    assert len(cells) == 1, f"expected one cell tagged {tag!r}, found {len(cells)}"
    return cells[0]


def text(cell) -> str:
    """A cell's printed and displayed text (plain-text representations)."""
    parts = []
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            parts.append(output.text)
        elif output.output_type in ("execute_result", "display_data"):
            parts.append(output.data.get("text/plain", ""))
    return "".join(parts)


def progress_bars(nb) -> list[str]:
    """The lines of any output, printed or displayed, that a progress bar left."""
    return [line for cell in code_cells(nb) for line in text(cell).replace("\r", "\n").splitlines()
            if PROGRESS_BAR.search(line)]


def figures(nb) -> int:
    return sum("image/png" in output.get("data", {}) for cell in code_cells(nb) for output in cell.outputs)


def execute(path: Path, workdir: Path, **parameters) -> nbformat.NotebookNode:
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    cell = tagged(nb, "parameters")
    cell.source += "\n# injected by tests/e2e/test_notebooks.py\n" + "".join(
        f"{name} = {value!r}\n" for name, value in parameters.items()
    )
    NotebookClient(nb, kernel_name="python3", timeout=600, resources={"metadata": {"path": str(workdir)}}).execute()
    return nb


@pytest.fixture
def kernel_env(monkeypatch):
    """What the kernel inherits: no network for the embedding model, no tracking store but the test's own,
    and the notebook's own (inline) figures."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")
    for name in ("MLFLOW_TRACKING_URI", "BANDITROUTE_MLRUNS", "MPLBACKEND"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("path", [OPE, REPORT], ids=lambda p: p.name)
def test_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in code_cells(nb):
        assert cell.outputs == [], f"{path.name}: a code cell has outputs; clear them before committing"
        assert cell.execution_count is None, f"{path.name}: a code cell has an execution count"
    assert tagged(nb, "parameters") is code_cells(nb)[0], "the parameters cell must be the first code cell"
    assert nb.metadata.kernelspec.name == "python3"


@pytest.mark.slow
def test_offline_policy_evaluation_runs(tmp_path, kernel_env):
    export = tmp_path / "events.parquet"
    nb = execute(OPE, tmp_path, REQUESTS=300, EXPORT_PATH=str(export))
    chosen = text(tagged(nb, "chosen-lambda"))
    assert "λ" in chosen
    everything = "".join(text(cell) for cell in code_cells(nb))
    for policy in ["bandit λ=0.05", "bandit λ=0.8", "always-premium", "always-cheapest", "static-rules"]:
        assert policy in everything
    assert "true grade" in everything  # the simulator's truth was compared with
    assert figures(nb) >= 2  # the propensity histogram and the estimates against the truth
    assert export.exists()
    assert progress_bars(nb) == []

    # The same notebook on an exported log: no simulator, no truth. With a bar every λ keeps, the
    # cheapest, the largest λ searched, is chosen: the grid may end short of a cheaper λ that keeps it too.
    nb = execute(OPE, tmp_path, LOG_PATH=str(export), QUALITY_BAR=0.0, LAMBDAS=[0.05, 0.8])
    chosen = text(tagged(nb, "chosen-lambda"))
    assert "chosen λ = 0.8" in chosen
    assert "warning: λ = 0.8 is the largest value searched, at the edge of the grid" in chosen
    everything = "".join(text(cell) for cell in code_cells(nb))
    assert "no ground truth" in everything
    assert "always-premium" in everything
    assert progress_bars(nb) == []


@pytest.mark.slow
def test_routing_report_runs(tmp_path, kernel_env):
    nb = execute(REPORT, tmp_path, REQUESTS=300)
    table = text(tagged(nb, "savings-table"))
    for policy in POLICIES:
        assert policy in table
    for column in ("cost_usd", "savings_vs_premium", "mean_quality", "quality_vs_premium", "regret_vs_oracle"):
        assert column in table
    assert figures(nb) == 4  # cost–quality, cumulative cost, cumulative regret, model mix
    assert progress_bars(nb) == []
    assert not (tmp_path / "mlruns").exists()  # tracked into the notebook's temp store only
