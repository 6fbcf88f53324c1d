"""Numbers quoted from the source report, to be set beside our own measurements.

Source: "Implicit Q Learning: Improvements on Antmaze" (廖修誼, 吳泓諺, 王裕昕), Part IV "Tech. 2 - D2RL",
"Results" table: effective rank srank_δ(Φ) (δ = 0.01) of the penultimate-layer features of the policy and of the
Q-network after 1M training steps, for IQL and for IQL with D2RL skip connections (IQL+SC); the features are
256-wide, so 256 is the largest possible value.

Each claim is a dict with the keys `claim` and `report` (the report's number as printed); a measurement, once we
have one, goes under `measured` (see `leaderboard.render.render_findings`).
"""

from __future__ import annotations

SOURCE = 'Report "Implicit Q Learning: Improvements on Antmaze", Part IV (Tech. 2 - D2RL), Results table'

SRANK_CLAIMS: tuple[dict[str, str], ...] = (
    {"claim": "srank of the policy after 1M steps, antmaze-large: IQL / IQL+SC", "report": "227 / 232"},
    {"claim": "srank of the policy after 1M steps, antmaze-medium: IQL / IQL+SC", "report": "225 / 232"},
    {"claim": "srank of the policy after 1M steps, halfcheetah-expert: IQL / IQL+SC", "report": "226 / 232"},
    {"claim": "srank of the Q-network after 1M steps, antmaze-large: IQL / IQL+SC", "report": "223 / 231"},
    {"claim": "srank of the Q-network after 1M steps, antmaze-medium: IQL / IQL+SC", "report": "221 / 230"},
    {"claim": "srank of the Q-network after 1M steps, halfcheetah-expert: IQL / IQL+SC", "report": "225 / 233"},
)
