# nanoclaw orchestrator runner base, as upstream's recipe builds it: the upstream
# nanoclaw repository at the commit livecheck answered, built with Node 22, then a runtime
# with git, procps, tini, the docker CLI and Claude Code at its answered version, running
# the orchestrator under tini (SPEC §12.1).
FROM node:22-bookworm-slim AS build
ARG CLAW_UPSTREAM_NANOCLAW
RUN apt-get -o Acquire::Retries=3 update \
 && apt-get install -y --no-install-recommends ca-certificates git python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
RUN git init -q . && git remote add origin https://github.com/qwibitai/nanoclaw.git \
 && git fetch -q --depth 1 origin "${CLAW_UPSTREAM_NANOCLAW:-HEAD}" \
 && git checkout -q FETCH_HEAD && rm -rf .git
RUN npm ci && npm run build

FROM node:22-bookworm-slim
ARG CLAW_UPSTREAM_ANTHROPIC_AI_CLAUDE_CODE
ARG CLAW_UPSTREAM_BEFORE
RUN apt-get -o Acquire::Retries=3 update \
 && apt-get install -y --no-install-recommends ca-certificates git procps tini \
 && rm -rf /var/lib/apt/lists/*
COPY --from=docker:27-cli /usr/local/bin/docker /usr/local/bin/docker
RUN npm install -g --no-fund --no-audit ${CLAW_UPSTREAM_BEFORE:+--before=$CLAW_UPSTREAM_BEFORE} \
    "@anthropic-ai/claude-code@${CLAW_UPSTREAM_ANTHROPIC_AI_CLAUDE_CODE:-latest}" \
 && npm cache clean --force
WORKDIR /workspace
COPY --from=build /src /workspace
RUN mkdir -p /workspace/groups/main /workspace/container/skills
ENTRYPOINT ["/usr/bin/tini", "--", "node", "/workspace/dist/index.js"]
