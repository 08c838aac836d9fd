"""The hardening flags, read back from the built binaries with readelf:
full RELRO (BIND_NOW), PIE, the stack protector and FORTIFY_SOURCE."""
import os
import subprocess

import pytest

from conftest import BUILD

BINARIES = ["gridrouted", "gridctl"]


def readelf(*args):
    return subprocess.run(["readelf", *args], capture_output=True, text=True, check=True).stdout


@pytest.mark.parametrize("name", BINARIES)
def test_relro_bind_now_and_pie(name):
    path = os.path.join(BUILD, name)
    assert "GNU_RELRO" in readelf("-lW", path)
    dyn = readelf("-dW", path)
    assert "BIND_NOW" in dyn or "FLAGS_1" in dyn and " NOW" in dyn
    assert "PIE" in dyn  # FLAGS_1: NOW PIE
    assert "DYN (Position-Independent Executable" in readelf("-hW", path)


@pytest.mark.parametrize("name", BINARIES)
def test_stack_protector_and_fortify(name):
    if "san-" in BUILD:
        pytest.skip("the sanitizer build has no FORTIFY_SOURCE")
    syms = readelf("--dyn-syms", "-W", os.path.join(BUILD, name))
    assert "__stack_chk_fail" in syms
    assert any(s in syms for s in ("__snprintf_chk", "__vsnprintf_chk", "__memcpy_chk",
                                   "__fprintf_chk", "__printf_chk"))
