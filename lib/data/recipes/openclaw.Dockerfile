# openclaw runner base: Node 22, a few OS tools, and OpenClaw installed by its
# upstream installer (npm method, no prompts, no onboarding).
FROM node:22-slim
RUN apt-get -o Acquire::Retries=3 update \
 && apt-get install -y --no-install-recommends bash ca-certificates curl git jq procps tini \
 && rm -rf /var/lib/apt/lists/*
RUN curl -fsSL --retry 3 https://openclaw.ai/install.sh | bash -s -- --no-prompt --no-onboard --method npm
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["openclaw", "gateway"]
