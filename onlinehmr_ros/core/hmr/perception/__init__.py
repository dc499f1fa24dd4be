"""Perception: 2D/3D body landmarks and person masks per image, behind one backend interface."""
