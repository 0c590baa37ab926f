"""The notebook runs end to end on real prices with tiny settings, and is stored without outputs."""

import json
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "gru_vs_lstm.ipynb"


def test_notebook_is_committed_without_outputs():
    nb = json.loads(NOTEBOOK.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code, "the notebook has no code cells"
    assert all(c["outputs"] == [] and c["execution_count"] is None for c in code)


@pytest.mark.slow
def test_notebook_runs(real_csv, tmp_path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("FORECAST_CSV", str(real_csv))
    monkeypatch.setenv("FORECAST_EPOCHS", "1")
    monkeypatch.setenv("FORECAST_SEEDS", "2")
    monkeypatch.setenv("FORECAST_CALLS", "3")
    monkeypatch.setenv("FORECAST_OUT", str(tmp_path))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    text = "\n".join(
        out.get("text", "") + json.dumps(out.get("data", {}))
        for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs
    )
    outputs = [out for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs]
    images = [out for out in outputs if "image/png" in out.get("data", {})]
    assert len(images) == 6, "every chart is rendered as an image, not as <Figure ...> text"
    noise = [out["text"] for out in outputs if out.get("name") == "stderr" and "I0000" in out["text"]]
    assert noise == [], "TensorFlow's start-up lines leaked into the notebook"
    assert "rows:       4124" in text            # the real series, loaded through the CSV fallback
    assert "GRU and LSTM" in text or "significantly more accurate" in text  # the verdict printed
    result = json.loads((tmp_path / "comparison.json").read_text())
    assert result["seeds"] == [42, 43]
    assert result["gru"]["reused_saved_model"][0] is True  # the notebook's own training was reused
