# nanobot runner base, as upstream's recipe builds it: Python 3.12 with uv, a few OS
# tools, nanobot-ai from PyPI, and its workspace as the working directory.
FROM ghcr.io/astral-sh/uv:python3.12-bookworm-slim
RUN apt-get -o Acquire::Retries=3 update \
 && apt-get install -y --no-install-recommends ca-certificates curl git jq procps tini \
 && rm -rf /var/lib/apt/lists/*
RUN uv pip install --system --no-cache nanobot-ai
RUN mkdir -p /root/.nanobot/workspace/skills
ENV HOME=/root
WORKDIR /root/.nanobot/workspace
ENTRYPOINT ["/usr/bin/tini", "--", "nanobot"]
CMD ["gateway"]
