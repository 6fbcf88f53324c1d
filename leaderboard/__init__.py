"""The generated leaderboard: `python -m leaderboard` renders README.md and plots/ from the results store."""
