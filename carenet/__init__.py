"""carenet: agent-based simulation of integrated care as hierarchies and networks."""

__version__ = "0.1.0"
