"""carenet.configs."""
