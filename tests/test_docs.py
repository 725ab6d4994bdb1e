"""Every public module's docstring examples run and print what they say."""
import doctest
import importlib
import importlib.util

import pytest

MODULES = ["convcore.functional", "convcore._cnn_ops", "convcore._openmp", "convcore.nn",
           "convcore.optim", "convcore.preprocessing", "convcore.compat.cs231n",
           "convcore.examples.lenet", "convcore.examples.dask_digits", "convcore.dask"]


def _has_dask():
    return all(importlib.util.find_spec(m) for m in ("dask", "distributed"))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, restore_threads):
    if name == "convcore.dask" and not _has_dask():
        pytest.skip("convcore.dask needs the 'dask' extra")
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0


def test_readme_python_examples_run(tmp_path, monkeypatch, restore_threads):
    import pathlib
    import re

    readme = pathlib.Path(__file__).resolve().parent.parent / "README.md"
    blocks = re.findall(r"```python\n(.*?)```", readme.read_text(), re.S)
    assert len(blocks) >= 3
    monkeypatch.chdir(tmp_path)  # the examples write files
    for i, block in enumerate(blocks):
        if "convcore.dask" in block and not _has_dask():
            continue  # the Dask section needs the 'dask' extra
        exec(compile(block, f"README.md python block {i}", "exec"), {})
