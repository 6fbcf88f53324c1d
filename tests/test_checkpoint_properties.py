"""Property: whatever JSON value any field of a checkpoint's config.json or state.json holds (or if it is deleted),
loading either works or raises a CheckpointError naming that field, within 2 s of CPU time; never a raw error from
json, numpy or torch."""

import json
import math
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from iqlzoo import IQL, CheckpointError

DELETE = "<delete the field>"
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=6,
)
MUTATIONS = settings(max_examples=60, deadline=None, derandomize=True, database=None)


def paths(value: Any, prefix: tuple = ()) -> Iterator[tuple]:
    """Every path (a tuple of keys and indices) to a value nested in ``value``, below the root."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        yield prefix + (key,)
        yield from paths(child, prefix + (key,))


def check_mutation(files: dict[str, bytes], name: str, choice: int | tuple, value: Any) -> None:
    """Load ``files`` with one field of the JSON file ``name`` set to ``value`` (or deleted): the field is ``choice``
    if that is a path, else the ``choice``-th of the file's paths (modulo their number)."""
    document = json.loads(files[name])
    every = sorted(paths(document), key=repr)
    path = choice if isinstance(choice, tuple) else every[choice % len(every)]
    parent = document
    for key in path[:-1]:
        parent = parent[key]
    if value == DELETE:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "agent"
        folder.mkdir()
        for member, data in {**files, name: json.dumps(document).encode()}.items():
            (folder / member).write_bytes(data)
        start = time.process_time()
        try:
            IQL.load(folder, device="cpu")
        except CheckpointError as exc:
            field = [key for key in path if isinstance(key, str)][-1]
            assert re.search(rf"(?<!\w){re.escape(field)}(?!\w)", str(exc)), f"{field!r} not named in: {exc}"
        assert time.process_time() - start < 2.0


@MUTATIONS
@given(choice=st.integers(min_value=0), value=st.just(DELETE) | JSON_VALUES)
@example(choice=("format_version",), value=None)
@example(choice=("seed",), value="abc")
@example(choice=("config",), value=[1, 2])
@example(choice=("config", "actor_lr"), value=math.inf)
@example(choice=("spaces", "obs_keys"), value=["observation"])
def test_any_config_json_field_loads_or_is_named(saved_iql_files, choice, value):
    check_mutation(saved_iql_files, "config.json", choice, value)


@MUTATIONS
@given(choice=st.integers(min_value=0), value=st.just(DELETE) | JSON_VALUES)
@example(choice=("optimizer",), value=DELETE)
@example(choice=("optimizer", "param_groups", 0, "params"), value=[0])
@example(choice=("total_timesteps",), value="many")
def test_any_state_json_field_loads_or_is_named(saved_iql_files, choice, value):
    check_mutation(saved_iql_files, "state.json", choice, value)
