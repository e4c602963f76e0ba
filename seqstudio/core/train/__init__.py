"""Training: the config, the control, the events, the loop, the training process,
sessions, runs and metrics."""
