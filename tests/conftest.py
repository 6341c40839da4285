import shutil
import sys
from pathlib import Path

import pytest

# tests import the shared fixture builders as a plain module
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture
def no_containing_sandbox(tmp_path, monkeypatch):
    """This machine as one where no sandbox level contains the filesystem: the only bwrap named does not exist and
    PATH has no unshare (``sh`` stays, for setup.py's own ``os.system``)."""
    monkeypatch.delenv("WHEELMETA_SANDBOX", raising=False)
    monkeypatch.setenv("WHEELMETA_BWRAP", str(tmp_path / "no-such-bwrap"))
    folder = tmp_path / "bin-sh-only"
    folder.mkdir()
    (folder / "sh").symlink_to(shutil.which("sh"))
    monkeypatch.setenv("PATH", str(folder))
