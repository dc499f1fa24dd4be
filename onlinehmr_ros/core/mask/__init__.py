"""The mask stage: human segmentation C_h, then the paper's soft mask C_soft."""
