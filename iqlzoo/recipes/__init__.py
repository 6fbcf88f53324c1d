"""Local regeneration of the Minari datasets used by iqlzoo."""
