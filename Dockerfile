# syntax=docker/dockerfile:1.7
# One image for every service; the command chooses which one runs:
#   docker build -t gateway .                     api, llm-worker, backend-sim (no espeak-ng)
#   docker build --target tts -t gateway-tts .    the same plus espeak-ng, for the tts-worker
#   docker run gateway services/llm-worker/dist/main.js
ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS base
WORKDIR /app
ENV NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_FUND=false NPM_CONFIG_AUDIT=false

# Just the lockfile and each workspace's package.json, so the install layers below stay cached until
# a dependency changes, not whenever a source file does.
FROM base AS manifests
COPY . /src
RUN mkdir /out && cd /src \
  && cp package.json package-lock.json /out/ \
  && for f in packages/*/package.json services/*/package.json; do \
       mkdir -p "/out/$(dirname "$f")" && cp "$f" "/out/$f"; \
     done

# Install scripts are skipped: no production dependency needs one (msgpackr-extract loads its prebuilt
# platform package), and the image's npm may predate the `allowScripts` list in package.json.
FROM base AS build
COPY --from=manifests /out/ ./
RUN --mount=type=cache,target=/root/.npm npm ci --ignore-scripts
COPY . .
RUN npm run build \
  && npm run build --workspace @gateway/web \
  && mkdir /out \
  && for d in packages/*/dist services/*/dist; do mkdir -p "/out/$d" && cp -a "$d/." "/out/$d/"; done \
  && find /out \( -name '*.d.ts' -o -name '*.d.ts.map' -o -name '.tsbuildinfo' \) -delete

FROM base AS prod-deps
COPY --from=manifests /out/ ./
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --ignore-scripts

FROM base AS runtime
RUN apt-get update \
  && apt-get install -y --no-install-recommends tini \
  && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production
# Node 20 sizes its heap from the machine's memory, not the pod's limit (512Mi in infra/k8s): capped here,
# V8 collects before a burst's garbage grows the process past the limit (packages/config/src/heap.ts).
# A deployment with another memory limit sets its own NODE_OPTIONS; check-deploy checks it fits.
ENV NODE_OPTIONS=--max-old-space-size=384
# Code stays owned by root (read-only to the service); only data/ (AUDIO_STORE=dir) is writable.
COPY --from=prod-deps /app/ ./
COPY --from=build /out/ ./
RUN mkdir -p data/audio && chown -R node:node data
USER node
EXPOSE 8080
# tini forwards SIGTERM to node and reaps children; each service drains on SIGTERM (api: closes SSE
# streams so clients resume elsewhere; workers: finish the jobs in hand). Give them the grace period.
STOPSIGNAL SIGTERM
ENTRYPOINT ["tini", "--", "node", "--enable-source-maps"]
CMD ["services/api/dist/main.js"]

FROM runtime AS tts
USER root
RUN apt-get update \
  && apt-get install -y --no-install-recommends espeak-ng \
  && rm -rf /var/lib/apt/lists/*
USER node
CMD ["services/tts-worker/dist/main.js"]

# The default target (last stage): everything but espeak-ng.
FROM runtime AS app
