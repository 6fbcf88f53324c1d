"""Properties of everything a user hands iqlzoo: whatever ``predict`` observation, ``IQLConfig`` field or command-line
value it gets, the outcome is a correct result or an error of iqlzoo's own types (``InvalidInputError``, argparse's
usage error) that names what was wrong — never a traceback from numpy/torch/json, a hang or a silent acceptance.
(Checkpoint JSON fields: tests/test_checkpoint_properties.py.)"""

import argparse
import contextlib
import io
import math
import typing
import warnings

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from iqlzoo import IQL, IQLConfig, TransitionDataset
from iqlzoo.arguments import MAX_SEED, MIN_SEED, cli_non_negative_float, cli_positive_int, cli_seed
from iqlzoo.errors import InvalidInputError
from iqlzoo.validation import type_problem

FAST = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(scope="module")
def tiny_model():
    """An untrained IQL on 40 random Pendulum-shaped transitions: 3-d observations, actions in [-2, 2]."""
    rng = np.random.default_rng(0)
    data = TransitionDataset(
        observations=rng.normal(size=(40, 3)), actions=rng.uniform(-2, 2, (40, 1)), rewards=rng.normal(size=40),
        next_observations=rng.normal(size=(40, 3)), terminations=np.zeros(40),
        observation_space=gym.spaces.Box(-np.inf, np.inf, (3,), np.float32),
        action_space=gym.spaces.Box(-2.0, 2.0, (1,), np.float32), episode_returns=np.array([-3.0, -1.0]),
    )
    return IQL("MlpPolicy", data, policy_kwargs={"net_arch": [8]}, batch_size=8, device="cpu", seed=0)


ELEMENTS = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=32), st.integers(-5, 5))
SHAPES = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)
OBSERVATIONS = st.one_of(
    hnp.arrays(st.sampled_from([np.float32, np.float64]), SHAPES,
               elements=st.floats(allow_nan=True, allow_infinity=True, width=16)),
    hnp.arrays(st.sampled_from([np.int64, np.bool_]), SHAPES),
    st.lists(st.lists(ELEMENTS, max_size=4), max_size=3),
    st.sampled_from([None, "abc", {"observation": [0.0, 0.0, 0.0]}, np.zeros(3, dtype=complex),
                     np.array(["a", "b", "c"]), np.zeros((2, 3), dtype=object)]),
)


@given(observation=OBSERVATIONS)
@FAST
def test_predict_returns_a_bounded_action_or_names_the_observation(tiny_model, observation):
    try:
        action, state = tiny_model.predict(observation)
    except InvalidInputError as error:
        assert "observation" in str(error), str(error)
        return
    flat = np.asarray(observation, dtype=np.float64)
    assert np.isfinite(flat).all() and flat.size > 0, f"accepted {observation!r}"
    assert action.shape == ((1,) if flat.shape == (3,) else (flat.shape[0], 1))
    assert np.all(np.abs(action) <= 2.0) and state is None


VALUES = st.one_of(st.none(), st.booleans(), st.integers(-(10**20), 10**20), st.floats(allow_nan=True),
                   st.text(max_size=5), st.lists(st.integers(-3, 300), max_size=3), st.just({"k": 1}),
                   st.just({1: 2}), st.just(b"x"))


@given(field=st.sampled_from(sorted(IQLConfig.__dataclass_fields__)), value=VALUES)
@settings(max_examples=120, deadline=None, derandomize=True, database=None)
def test_any_config_value_is_valid_or_an_invalid_input_error_naming_the_field(field, value):
    try:
        config = IQLConfig(**{field: value}).resolved("iqlzoo/antmaze/umaze-v0")
        config.validate()
    except InvalidInputError as error:
        assert field in str(error), str(error)
        return
    # accepted: then the value is of the field's type, finite, and the config serialises
    assert type_problem(getattr(config, field), typing.get_type_hints(IQLConfig)[field]) is None
    assert not (isinstance(value, float) and not math.isfinite(value))
    config.to_json()


@given(widths=st.lists(st.sampled_from([4, 8, 2**15]), min_size=1, max_size=3),
       n_critics=st.sampled_from([1, 2, 10**8]))
@settings(max_examples=12, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_networks_over_the_size_limit_are_refused_before_allocation(tiny_model, widths, n_critics):
    """Networks within LoadLimits.max_parameters (10**8) build; larger ones — two adjacent layers of 2**15 units
    (2**30 weights), or 10**8 critics — are refused with the limit's name and how to raise it, before allocating."""
    huge = n_critics == 10**8 or any(a == b == 2**15 for a, b in zip(widths, widths[1:]))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            IQL("MlpPolicy", tiny_model.dataset, actor_hidden=widths, critic_hidden=widths, value_hidden=widths,
                n_critics=n_critics, batch_size=8, device="cpu")
    except InvalidInputError as error:
        assert huge, str(error)
        assert "max_parameters" in str(error) and "IQLZOO_MAX_PARAMETERS" in str(error)
        return
    assert not huge


def parse_error(parse, argv) -> str | None:
    """argparse's usage message when ``parse(argv)`` refuses the arguments (exit status 2), else None."""
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            parse(argv)
    except SystemExit as exit_:
        assert exit_.code == 2
        assert "Traceback" not in stderr.getvalue()
        return stderr.getvalue()
    return None


def _run_parser(argv):
    from benchmarks.run import parse_args

    return parse_args(["--suite", "smoke", *argv])


def _quickstart_parser(argv):
    from iqlzoo.quickstart import parse_args

    return parse_args(argv)


def _recipes_parser(argv):
    from iqlzoo.recipes.__main__ import build_parser

    return build_parser().parse_args(["build", "iqlzoo/toy/pendulum-mixed-v0", *argv])


def _leaderboard_parser(argv):
    """The leaderboard's flags, parsed by its main with a store that does not exist: a flag that parses ends in the
    'not a results store' error, one that does not in argparse's own."""
    from leaderboard.__main__ import main

    main(["--results", "/nonexistent-store", *argv])


FLAGS = {
    "benchmarks.run": (_run_parser, {"--steps": 1, "--seeds": 1, "--eval-every": 1, "--eval-episodes": 1,
                                     "--checkpoint-every": 1, "--workers": 1, "--max-attempts": 1, "--reps": 1,
                                     "--seed": 0, "--gpus-per-run": 0.0}),
    "quickstart": (_quickstart_parser, {"--steps": 1, "--eval-episodes": 1, "--threads": 1, "--seed": 0}),
    "recipes build": (_recipes_parser, {"--steps": 1, "--threads": 1}),
    "leaderboard": (_leaderboard_parser, {"--reps": 1, "--seed": 0}),
}
TEXTS = st.one_of(st.integers(-(10**20), 10**20).map(str), st.floats(allow_nan=True).map(str),
                  st.text(max_size=6), st.sampled_from(["0", "-1", "1", "2", "nan", "inf", "1e3", " 5", "0x10"]))


@given(cli=st.sampled_from(sorted(FLAGS)), data=st.data(), text=TEXTS)
@settings(max_examples=80, deadline=None, derandomize=True, database=None)
def test_a_numeric_flag_parses_in_range_or_is_a_usage_error_naming_it(cli, data, text):
    parse, flags = FLAGS[cli]
    flag = data.draw(st.sampled_from(sorted(flags)))
    if text.startswith("-") and not text.lstrip("-")[:1].isdigit():
        return  # argparse reads "-x" as an option, not a value: its own error, tested elsewhere
    message = parse_error(parse, [flag, text])
    minimum = flags[flag]
    try:
        number = float(text) if isinstance(minimum, float) else int(text)
        valid = math.isfinite(number) and number >= minimum
    except ValueError:
        valid = False
    if cli == "leaderboard":
        assert message is not None
        assert ("not a results store" in message) == valid, message
        if not valid:
            assert flag in message and "expected" in message, message
        return
    if valid:
        assert message is None, message
    else:
        assert message is not None, f"{cli} {flag} {text!r} was accepted"
        assert flag in message and "expected" in message, message


@given(text=st.text(max_size=30) | st.integers().map(str) | st.floats(allow_nan=True).map(str))
@settings(max_examples=60, deadline=None, derandomize=True, database=None)
def test_cli_types_return_values_in_range_or_say_what_they_expected(text):
    for parse, ok in ((cli_positive_int, lambda v: v >= 1), (cli_seed, lambda v: v >= 0),
                      (cli_non_negative_float, lambda v: math.isfinite(v) and v >= 0)):
        try:
            value = parse(text)
        except argparse.ArgumentTypeError as error:
            assert str(error).startswith("expected"), str(error)
            continue
        assert ok(value)


@given(seed=st.one_of(st.integers(-(2**70), 2**70), st.floats(), st.text(max_size=3), st.booleans()),
       verbose=st.one_of(st.integers(-3, 5), st.floats(), st.text(max_size=3), st.booleans()))
@settings(max_examples=30, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_seed_and_verbose_are_checked_up_front(tiny_model, seed, verbose):
    try:
        model = IQL("MlpPolicy", tiny_model.dataset, policy_kwargs={"net_arch": [4]}, batch_size=8, device="cpu",
                    seed=seed, verbose=verbose)
    except InvalidInputError as error:
        assert "seed" in str(error) or "verbose" in str(error), str(error)
        return
    assert isinstance(seed, int) and not isinstance(seed, bool) and MIN_SEED <= seed <= MAX_SEED
    assert model.verbose in (0, 1, 2) and not isinstance(verbose, (float, str))
