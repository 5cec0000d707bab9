# nanoclaw orchestrator runner base, as upstream's recipe builds it: the upstream
# nanoclaw repository built with Node 22, then a runtime with git, procps, tini, the
# docker CLI and Claude Code, running the orchestrator under tini.
FROM node:22-bookworm-slim AS build
RUN apt-get -o Acquire::Retries=3 update \
 && apt-get install -y --no-install-recommends ca-certificates git python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
RUN git clone --depth 1 https://github.com/qwibitai/nanoclaw.git . && rm -rf .git
RUN npm ci && npm run build

FROM node:22-bookworm-slim
RUN apt-get -o Acquire::Retries=3 update \
 && apt-get install -y --no-install-recommends ca-certificates git procps tini \
 && rm -rf /var/lib/apt/lists/*
COPY --from=docker:27-cli /usr/local/bin/docker /usr/local/bin/docker
RUN npm install -g @anthropic-ai/claude-code && npm cache clean --force
WORKDIR /workspace
COPY --from=build /src /workspace
RUN mkdir -p /workspace/groups/main /workspace/container/skills
ENTRYPOINT ["/usr/bin/tini", "--", "node", "/workspace/dist/index.js"]
