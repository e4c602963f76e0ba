"""The built-in data sources and recurrent cells, registered through the same hooks as any plugin."""
