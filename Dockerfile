# syntax=docker/dockerfile:1
# Cartwheel production image.
#   docker build -t cartwheel .
#   docker run -p 4000:4000 -e JWT_PRIVATE_KEY="$(cat jwt.pem)" \
#     -e DATABASE_URL=postgresql://… -e REDIS_URL=redis://… cartwheel
# Without DATABASE_URL the embedded PGlite database lives in /app/.data (mount a volume there).

# ---- build: install everything, generate the Prisma client, compile, then drop dev dependencies
FROM node:22-slim AS build
WORKDIR /app
ENV CI=true NPM_CONFIG_UPDATE_NOTIFIER=false PRISMA_HIDE_UPDATE_MESSAGE=1 CHECKPOINT_DISABLE=1

# postinstall runs scripts/prisma-generate.mjs (`prisma generate` into src/generated/prisma), which
# needs the Prisma schema and config, so those come in with the manifests.
COPY package.json package-lock.json prisma.config.ts ./
COPY scripts/ scripts/
COPY prisma/ prisma/
RUN npm ci --no-audit --no-fund

COPY tsconfig*.json schema.graphql ./
COPY src/ src/
# tsc -p tsconfig.build.json: rootDir ".", so src/main.ts -> dist/src/main.js, src/cli/seed.ts -> dist/src/cli/seed.js.
RUN npm run build
# `npm ci --omit=dev` cannot be used: postinstall needs the prisma CLI, a dev dependency. Prune
# instead. --omit=optional too: the prisma CLI and typescript are optional peers of @prisma/client,
# so the lockfile marks them "devOptional" and --omit=dev alone keeps them (about 250 MB with
# Prisma Studio). The other optional packages are platform binaries for esbuild (tsx) and tsc,
# and pg-cloudflare; the compiled server needs none of them. Pruning here, not in the runtime
# stage, keeps the removed packages out of the image's layers.
RUN npm prune --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund

# ---- runtime: compiled code, production node_modules, migrations; runs as the unprivileged node user
FROM node:22-slim AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=4000 \
    DATA_DIR=/app/.data \
    SEED_DEMO=false \
    NODE_OPTIONS=--max-semi-space-size=32
# A young generation sized for a server (catalog pages allocate their rows, results and JSON
# with dozens of requests in flight): +15-30% req/s on the catalog bench against V8's default.
# SEED_DEMO defaults to on for the embedded database, which production refuses (public demo
# passwords); setting it off lets the image also run on the embedded database.
WORKDIR /app

# package.json carries "type": "module", which the compiled ESM in dist/ needs.
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# src/db/migrate.ts reads new URL("../../prisma/migrations/", import.meta.url): from
# dist/src/db/migrate.js that is dist/prisma/migrations.
COPY --from=build /app/prisma/migrations ./dist/prisma/migrations
# The app's persisted-documents manifest: TRUSTED_DOCUMENTS_ONLY's default (cwd /app); partner
# manifests are mounted next to PARTNERS_FILE.
COPY client/generated/persisted-documents.json ./client/generated/persisted-documents.json
# Code stays root-owned and read-only for the app; only the data directory is writable.
RUN mkdir -p /app/.data && chown node:node /app/.data

USER node
EXPOSE 4000
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 4000) + '/health/ready').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

# Runs migrations then the server (src/app.ts applies pending migrations under an advisory lock
# before listening). main.ts handles SIGTERM itself and drains HTTP and WebSocket connections.
CMD ["node", "dist/src/main.js"]
