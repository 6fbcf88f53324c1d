"""iqlzoo agents: the SB3-style base and Implicit Q-Learning."""
