"""The only door to docker and compose: an ``Engine`` object per docker endpoint."""
