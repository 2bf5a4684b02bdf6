"""One dock widget per module: forward, sampling, grid, sde2d, randomwalk."""
