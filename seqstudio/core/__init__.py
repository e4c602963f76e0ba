"""The headless core: data, models, training, projects. Never imports Qt."""
