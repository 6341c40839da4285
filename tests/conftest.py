import os
import sys
from pathlib import Path

import pytest

# tests import the shared fixture builders as a plain module
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def no_pip_config(monkeypatch):
    """Only the indexes a test names: no pip config files, no PIP_* variables of this machine."""
    for key in list(os.environ):
        if key.startswith("PIP_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
