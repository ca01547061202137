"""carenet.experiments."""
