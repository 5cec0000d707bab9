# microclaw runner base: the upstream microclaw image, plus procps.
FROM ghcr.io/microclaw/microclaw:latest
USER root
RUN apt-get -o Acquire::Retries=3 update \
 && apt-get install -y --no-install-recommends procps \
 && rm -rf /var/lib/apt/lists/*
USER microclaw
