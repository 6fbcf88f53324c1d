"""Model-card templates and the cards of published iqlzoo checkpoints."""
