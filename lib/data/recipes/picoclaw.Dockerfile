# picoclaw runner base: the upstream sipeed/picoclaw image. It has no version
# command, so the base gets the fallback tag built-<date>-<image id>.
FROM docker.io/sipeed/picoclaw:latest
LABEL org.opencontainers.image.source="https://github.com/sipeed/picoclaw"
