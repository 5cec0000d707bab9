FROM {registry}/upstream/openclaw-runtime:latest
