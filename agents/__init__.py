"""stable-baselines3 agent factories and their YAML hyperparameters."""
