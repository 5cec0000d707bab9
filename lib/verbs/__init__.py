"""The verbs: pull, build, up/down. Peers: none imports another; the CLI composes them."""
