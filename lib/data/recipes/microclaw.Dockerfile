# microclaw runner base, as upstream's recipe builds it: the upstream microclaw image,
# plus procps and the folders for its config and claw's data.
FROM ghcr.io/microclaw/microclaw:latest
USER root
RUN apt-get -o Acquire::Retries=3 update \
 && apt-get install -y --no-install-recommends procps \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /app/config /claw-data
USER microclaw
