"""Shared fixtures. Helpers that tests call at import time (parametrize lists, module-level builders) live in
tests/helpers.py; pytest puts this folder on sys.path."""
from methods import cpu_isa

cpu_isa.pin()   # before any test module imports torch: the configured CPU kernels, here and in every subprocess

import pytest  # noqa: E402

from helpers import method_options  # noqa: E402


@pytest.fixture
def options_of():
    """method_options as a fixture: options_of("focusnet", warm="softmax")."""
    return method_options


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """Run the test in an empty working directory (results/ and tables/ land there)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path
