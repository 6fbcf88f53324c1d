"""Numbers and statements quoted from the source report, to be set beside our own measurements.

Source: "Implicit Q Learning: Improvements on Antmaze" (廖修誼, 吳泓諺, 王裕昕). `SRANK_CLAIMS` are from Part IV
"Tech. 2 - D2RL", "Results" table: effective rank srank_δ(Φ) (δ = 0.01) of the penultimate-layer features of the
policy and of the Q-network after 1M training steps, for IQL and for IQL with D2RL skip connections (IQL+SC); the
features are 256-wide, so 256 is the largest possible value. `STATEMENTS` quote the claims of Parts II-IV that the
report makes without numbers (it shows them as training curves).

Each srank claim is a dict with the keys `claim` and `report` (the report's number as printed, "IQL / IQL+SC"),
`network` ("policy" or "q") and `report_dataset` (the report's name of the task); a measurement, once we have one,
goes under `measured` (see `benchmarks.findings` and `leaderboard.render.render_findings`).
"""

from __future__ import annotations

REPORT = 'Report "Implicit Q Learning: Improvements on Antmaze" (廖修誼, 吳泓諺, 王裕昕)'
#: Where the srank numbers are printed.
SRANK_TABLE = "Part IV (Tech. 2 - D2RL), Results table"
SOURCE = f"{REPORT}, {SRANK_TABLE}"

SRANK_CLAIMS: tuple[dict[str, str], ...] = (
    {
        "claim": "srank of the policy after 1M steps, antmaze-large: IQL / IQL+SC",
        "report": "227 / 232",
        "network": "policy",
        "report_dataset": "antmaze-large",
    },
    {
        "claim": "srank of the policy after 1M steps, antmaze-medium: IQL / IQL+SC",
        "report": "225 / 232",
        "network": "policy",
        "report_dataset": "antmaze-medium",
    },
    {
        "claim": "srank of the policy after 1M steps, halfcheetah-expert: IQL / IQL+SC",
        "report": "226 / 232",
        "network": "policy",
        "report_dataset": "halfcheetah-expert",
    },
    {
        "claim": "srank of the Q-network after 1M steps, antmaze-large: IQL / IQL+SC",
        "report": "223 / 231",
        "network": "q",
        "report_dataset": "antmaze-large",
    },
    {
        "claim": "srank of the Q-network after 1M steps, antmaze-medium: IQL / IQL+SC",
        "report": "221 / 230",
        "network": "q",
        "report_dataset": "antmaze-medium",
    },
    {
        "claim": "srank of the Q-network after 1M steps, halfcheetah-expert: IQL / IQL+SC",
        "report": "225 / 233",
        "network": "q",
        "report_dataset": "halfcheetah-expert",
    },
)

#: The report's claims without numbers, quoted (finding -> where and what the report says).
STATEMENTS: dict[str, str] = {
    "twin_q": 'Part II: "without double Q implementations, the algorithm may not converge" (no numbers given)',
    "expectile": 'Part II: "when we adjust expectile to be bigger, the d4rl score improves" (a plot, no numbers)',
    "d2rl_convergence": 'Part IV: "IQL+SC greatly outperforms original IQL in antmaze-large [...] which shows better '
    'convergence" (antmaze-large-play-v0, expectile 0.9; training curves, no numbers)',
    "distributional": 'Part III: "the result of distribution IQL does not outperform original IQL too much. Besides, '
    'the training process of distribution IQL is unstable" (training curves, no numbers)',
}
