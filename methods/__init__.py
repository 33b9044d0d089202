"""FocusNet benchmark suite: datasets, models, training engine and one module per method."""
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = PROJECT_ROOT / "config"

__version__ = "0.1.0"
