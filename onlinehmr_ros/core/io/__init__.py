"""Images in and pictures out: image sources for the camera node and the CLI, overlays, the CPU rasteriser."""
