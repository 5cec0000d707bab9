# openclaw runner base, as upstream's recipe builds it: Node (the major openclaw's release
# declares: 24), upstream's tool set, OpenClaw from npm at the version livecheck answered
# (what upstream's installer does with --method npm, pinned: SPEC §12.1), and an
# entrypoint under tini: configure hook, memory link, gateway on 18789 (loopback), an
# optional greeting once healthy. The entrypoint is written with printf, not a RUN
# heredoc, so that the legacy builder builds it too.
FROM node:24-slim
ARG CLAW_UPSTREAM_OPENCLAW
ARG CLAW_UPSTREAM_BEFORE
RUN apt-get -o Acquire::Retries=3 update \
 && apt-get install -y --no-install-recommends bash ca-certificates cron curl git jq tini \
    build-essential python3 make g++ cmake \
 && rm -rf /var/lib/apt/lists/*
RUN npm install -g --no-fund --no-audit ${CLAW_UPSTREAM_BEFORE:+--before=$CLAW_UPSTREAM_BEFORE} \
    "openclaw@${CLAW_UPSTREAM_OPENCLAW:-latest}" \
 && npm cache clean --force
RUN printf '%s\n' \
    '#!/bin/sh' \
    '# Written by the openclaw runner base recipe of claw.' \
    'set -e' \
    'if [ -x /claw/configure.sh ]; then /claw/configure.sh; fi' \
    'if [ -n "${CLAW_MEMORY_DIR:-}" ]; then' \
    '  mkdir -p "$CLAW_MEMORY_DIR" /claw' \
    '  touch "$CLAW_MEMORY_DIR/MEMORY.md"' \
    '  ln -sf "$CLAW_MEMORY_DIR/MEMORY.md" /claw/MEMORY.md' \
    '  ln -sf "$CLAW_MEMORY_DIR/MEMORY.md" /claw/memory.md' \
    'fi' \
    'openclaw gateway --port 18789 --bind loopback &' \
    'gateway=$!' \
    'if [ -n "${CLAW_GREETING_CHANNEL:-}" ] && [ -n "${CLAW_GREETING_MESSAGE:-}" ]; then' \
    '  (' \
    '    waited=0' \
    '    until openclaw health >/dev/null 2>&1; do' \
    '      waited=$((waited + 1)); [ "$waited" -ge 60 ] && exit 0; sleep 1' \
    '    done' \
    '    tries=0' \
    '    until openclaw message send --channel discord --target "$CLAW_GREETING_CHANNEL" --message "$CLAW_GREETING_MESSAGE"; do' \
    '      tries=$((tries + 1)); [ "$tries" -ge 5 ] && exit 0; sleep 3' \
    '    done' \
    '  ) &' \
    'fi' \
    'wait "$gateway"' \
    > /usr/local/bin/openclaw-entrypoint.sh \
 && chmod 0755 /usr/local/bin/openclaw-entrypoint.sh
USER root
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/openclaw-entrypoint.sh"]
