# nanobot runner base, as upstream's recipe builds it: Python 3.12 with uv, a few OS
# tools, nanobot-ai from PyPI at the version livecheck answered (its dependencies fenced
# by the time of the answer: SPEC §12.1), and its workspace as the working directory.
FROM ghcr.io/astral-sh/uv:python3.12-bookworm-slim
ARG CLAW_UPSTREAM_NANOBOT_AI
ARG CLAW_UPSTREAM_BEFORE
RUN apt-get -o Acquire::Retries=3 update \
 && apt-get install -y --no-install-recommends ca-certificates curl git jq procps tini \
 && rm -rf /var/lib/apt/lists/*
RUN uv pip install --system --no-cache ${CLAW_UPSTREAM_BEFORE:+--exclude-newer=$CLAW_UPSTREAM_BEFORE} \
    "nanobot-ai${CLAW_UPSTREAM_NANOBOT_AI:+==$CLAW_UPSTREAM_NANOBOT_AI}"
RUN mkdir -p /root/.nanobot/workspace/skills
ENV HOME=/root
WORKDIR /root/.nanobot/workspace
ENTRYPOINT ["/usr/bin/tini", "--", "nanobot"]
CMD ["gateway"]
