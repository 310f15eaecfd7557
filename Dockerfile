# One image for every lab role: the daemon's flags (see docs/LAB.md) choose it.
#
# BASE is any image with Node >= 22.18 and npm on PATH: node:22-bookworm-slim
# where a registry is reachable, or sedai-base:22, the shell-less image that
# scripts/lab-image.sh imports from the pinned Node 22. Hence every RUN is in
# exec form, and the Dockerfile needs neither BuildKit nor a shell.
ARG BASE=node:22-bookworm-slim

# Only the workspace package.json files, so the `npm ci` layer below is rebuilt
# when dependencies change, not on every source edit.
FROM ${BASE} AS manifests
COPY packages/ /src/packages/
RUN ["node", "-e", "const fs = require('node:fs'); for (const d of fs.readdirSync('/src/packages')) { const f = `/src/packages/${d}/package.json`; if (fs.existsSync(f)) { fs.mkdirSync(`/out/packages/${d}`, { recursive: true }); fs.copyFileSync(f, `/out/packages/${d}/package.json`) } }"]

FROM ${BASE}
# The app lives outside any node_modules path: Node strips types only there.
# npm links node_modules/@sedai/* -> ../../packages/*, and Node resolves those
# links to /app/packages/*/src/*.ts.
WORKDIR /app
# the settings before the slow layers, so that a rebuild does not redo them
# (with the legacy builder each one is a layer, a full copy under the vfs driver)
ENV NODE_ENV=production SEDAI_REPO=/data
EXPOSE 4001
ENTRYPOINT ["node", "/app/packages/cli/bin/sedai.js"]
CMD ["daemon", "--repo", "/data", "--listen", "/ip4/0.0.0.0/tcp/4001", "--api", "127.0.0.1:5080"]
COPY package.json package-lock.json ./
COPY --from=manifests /out/ ./
# --omit=dev: the base brings Node 22, so not the devDependency node@22 (nor
# typescript); --ignore-scripts: no dependency needs one, and sedai-base has no shell.
RUN ["npm", "ci", "--omit=dev", "--ignore-scripts", "--no-audit", "--no-fund", "--update-notifier=false", "--cache", "/tmp/npm-cache"]
# the sources last: after an edit only this layer is rebuilt
COPY packages/ packages/
