"""FocusNet benchmark suite: datasets, models, training engine and one module per method."""
import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# the suite's own config/, or another copy of it (FOCUSNET_CONFIG_DIR; the processes a run launches inherit it)
CONFIG_DIR = Path(os.environ.get("FOCUSNET_CONFIG_DIR") or PROJECT_ROOT / "config")

__version__ = "0.1.0"
