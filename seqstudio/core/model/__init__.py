"""Models: layer specs, recurrent cells and the wrapper that runs a cell over time, ModelSpec."""
