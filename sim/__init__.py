"""carenet.sim."""
