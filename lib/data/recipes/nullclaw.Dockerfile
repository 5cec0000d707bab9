# nullclaw runner base: the upstream nullclaw release image.
FROM ghcr.io/nullclaw/nullclaw:latest
LABEL org.opencontainers.image.source="https://github.com/nullclaw/nullclaw"
