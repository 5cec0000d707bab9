# nanoclaw orchestrator runner base: build the upstream nanoclaw repository with
# Node 22, then copy it into a slim runtime that runs under tini.
FROM node:22-bookworm-slim AS build
RUN apt-get -o Acquire::Retries=3 update \
 && apt-get install -y --no-install-recommends ca-certificates git python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
RUN git clone --depth 1 https://github.com/qwibitai/nanoclaw.git . && rm -rf .git
RUN npm ci && npm run build

FROM node:22-bookworm-slim
RUN apt-get -o Acquire::Retries=3 update \
 && apt-get install -y --no-install-recommends ca-certificates procps tini \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src /workspace
WORKDIR /workspace
ENTRYPOINT ["/usr/bin/tini", "--", "node", "/workspace/dist/index.js"]
