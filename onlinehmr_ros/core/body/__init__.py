"""Body models (SMPL, SMPL-X, the open default): names and trees, loading, landmarks, skinning, display mesh."""
