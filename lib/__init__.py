"""claw: fresh, reproducible and traceable runner bases for AI-agent containers."""

__version__ = "0.1.0"
