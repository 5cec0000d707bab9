# nanobot runner base: Python 3.12 with uv, and nanobot-ai from PyPI.
FROM ghcr.io/astral-sh/uv:python3.12-bookworm-slim
RUN apt-get -o Acquire::Retries=3 update \
 && apt-get install -y --no-install-recommends ca-certificates curl git procps tini \
 && rm -rf /var/lib/apt/lists/*
RUN uv pip install --system --no-cache nanobot-ai
ENTRYPOINT ["/usr/bin/tini", "--", "nanobot"]
CMD ["gateway"]
