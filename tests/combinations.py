"""The variant configurations the tests train, defined once.

Presets are configurations of one agent (``tests/test_variants.py`` pins that), so two combinations take every branch
of the update between them: both bodies (MLP and D2RL, in the actor, critics and value net), both critic heads, both
distributional losses, and both novelty penalties. ``tests/test_variants.py`` checks that each learns and round-trips;
``tests/test_training_core.py`` that each compiles to the eager update and trains K seeds as K single runs.
"""

COMBINATIONS: dict[str, dict[str, str]] = {
    # the three presets at once: D2RLIQL's bodies, BonusIQL's RND bonus, DistributionalIQL's quantile critics
    "d2rl+rnd+quantile": dict(actor_body="d2rl", critic_body="d2rl", value_body="d2rl", penalty="rnd",
                              critic_head="quantile"),
    "quantile_huber+cvae": dict(critic_head="quantile", distributional_loss="quantile_huber", penalty="cvae"),
}
