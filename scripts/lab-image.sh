#!/usr/bin/env bash
# Builds the lab image sedai:dev on a machine that can reach the npm registry
# and Debian apt but no container registry (see docs/LAB.md):
#
#   1. installs docker.io + docker-compose with apt when they are missing;
#   2. starts dockerd (storage driver vfs) when no daemon answers;
#   3. imports a base image sedai-base:22 from a tiny rootfs: the pinned Node 22
#      (devDependency node@22), the shared libraries it links, this machine's
#      npm, /usr/bin/env and CA bundle; skipped when a base of the same recipe
#      (Node version, build_base code, CA bundle) exists;
#   4. docker build --build-arg BASE=sedai-base:22 -t sedai:dev . (npm ci runs
#      inside the build, against the npm registry);
#   5. removes the untagged images earlier builds left.
#
# Idempotent: run it again after editing the sources; only the changed layers
# are rebuilt (about 10 s). Needs root (or sudo) for steps 1 and 2 only.
#
# Environment: SEDAI_BASE_IMAGE (default sedai-base:22), SEDAI_IMAGE (default
# sedai:dev), DOCKERD_STORAGE_DRIVER (default vfs), DOCKERD_LOG (default
# /tmp/dockerd.log).
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."

BASE_IMAGE=${SEDAI_BASE_IMAGE:-sedai-base:22}
IMAGE=${SEDAI_IMAGE:-sedai:dev}
STORAGE_DRIVER=${DOCKERD_STORAGE_DRIVER:-vfs}
DOCKERD_LOG=${DOCKERD_LOG:-/tmp/dockerd.log}

log () { printf 'lab-image: %s\n' "$*" >&2; }
die () { log "error: $*"; exit 1; }

as_root () {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else die "need root for: $*"
  fi
}

have_compose () {
  command -v docker-compose >/dev/null || docker compose version >/dev/null 2>&1
}

ensure_docker () {
  if command -v docker >/dev/null && command -v dockerd >/dev/null && have_compose; then
    return
  fi
  log 'installing docker.io and docker-compose (apt)'
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io docker-compose >/dev/null
}

ensure_daemon () {
  if docker info >/dev/null 2>&1; then
    return
  fi
  command -v dockerd >/dev/null || die 'no docker daemon answers and dockerd is not installed'
  log "starting dockerd --storage-driver=$STORAGE_DRIVER (log: $DOCKERD_LOG)"
  # setsid + nohup: the daemon outlives this script (and `npm run`)
  as_root setsid nohup dockerd --storage-driver="$STORAGE_DRIVER" >"$DOCKERD_LOG" 2>&1 </dev/null &
  for _ in $(seq 1 60); do
    if docker info >/dev/null 2>&1; then return; fi
    sleep 1
  done
  die "dockerd did not answer within 60 s; see $DOCKERD_LOG"
}

# The libraries `ldd` lists for a binary, and its dynamic loader (absolute paths).
shared_libs () {
  ldd "$1" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'
}

# Copies a file into the rootfs at the same path, following symlinks.
put () {
  mkdir -p "$rootfs$(dirname "$2")"
  cp -L "$1" "$rootfs$2"
}

build_base () {
  local node_bin npm_dir version extra_ca=
  [ -e node_modules/.bin/node ] || die "node_modules/.bin/node is missing: run 'npm ci' first (it brings the pinned Node 22)"
  node_bin=$(readlink -f node_modules/.bin/node)
  [ "$(head -c 4 "$node_bin" | tail -c 3)" = ELF ] || die "$node_bin is not an ELF binary"
  version=$("$node_bin" --version)
  case "$version" in v22.*) ;; *) die "$node_bin is $version, not Node 22" ;; esac

  # the recipe: this Node, the code below, the CA bundle; a base of another recipe is re-imported
  local ca=/etc/ssl/certs/ca-certificates.crt recipe
  recipe=$( { echo "$version"; declare -f build_base put shared_libs; cat "$ca" 2>/dev/null || true; } | sha256sum | cut -c1-16)
  if [ "$(docker image inspect -f '{{ index .Config.Labels "sedai.base" }}' "$BASE_IMAGE" 2>/dev/null || true)" = "$recipe" ]; then
    log "$BASE_IMAGE (node $version, recipe $recipe) exists, not rebuilt"
    return
  fi

  # npm: the one running this script (npm run sets npm_execpath), else the one on PATH
  local npm_cli=${npm_execpath:-$(command -v npm || true)}
  [ -n "$npm_cli" ] || die 'npm not found'
  npm_dir=$(dirname "$(dirname "$(readlink -f "$npm_cli")")")
  grep -q '"name": "npm"' "$npm_dir/package.json" 2>/dev/null || die "no npm package at $npm_dir"

  log "importing $BASE_IMAGE: node $version from $node_bin, npm $("$node_bin" -p "require('$npm_dir/package.json').version") from $npm_dir"
  rootfs=$(mktemp -d)
  trap 'rm -rf "$rootfs"' EXIT

  # the same layout as the official node images: node and npm under /usr/local
  put "$node_bin" /usr/local/bin/node
  put /usr/bin/env /usr/bin/env # npm's shebang is `#!/usr/bin/env node`
  for lib in $(shared_libs "$node_bin") $(shared_libs /usr/bin/env); do
    put "$lib" "$lib"
  done
  mkdir -p "$rootfs/usr/local/lib/node_modules"
  cp -a "$npm_dir" "$rootfs/usr/local/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"

  mkdir -p "$rootfs/etc" "$rootfs/root" "$rootfs/home/node" "$rootfs/tmp"
  chmod 1777 "$rootfs/tmp"
  printf 'root:x:0:0:root:/root:/usr/sbin/nologin\nnode:x:1000:1000::/home/node:/usr/sbin/nologin\n' >"$rootfs/etc/passwd"
  printf 'root:x:0:\nnode:x:1000:\n' >"$rootfs/etc/group"
  printf 'hosts: files dns\n' >"$rootfs/etc/nsswitch.conf"
  # the host's trust store, so that npm in the build trusts what the host's npm
  # trusts (a TLS-inspecting egress proxy's CA, say); Node reads it through
  # NODE_EXTRA_CA_CERTS, on top of its bundled roots
  if [ -r "$ca" ]; then
    put "$ca" /etc/ssl/certs/ca-certificates.crt
    extra_ca=/etc/ssl/certs/ca-certificates.crt
  fi

  tar -C "$rootfs" --numeric-owner --owner=0 --group=0 -c . |
    docker import \
      --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
      --change "LABEL sedai.node=$version sedai.base=$recipe" \
      --change "ENV NODE_EXTRA_CA_CERTS=$extra_ca" \
      --change 'CMD ["node"]' \
      - "$BASE_IMAGE" >/dev/null
  rm -rf "$rootfs"
  trap - EXIT
}

ensure_docker
ensure_daemon
start=$(date +%s)
build_base
log "building $IMAGE from $BASE_IMAGE"
docker build --build-arg "BASE=$BASE_IMAGE" -t "$IMAGE" .
# the untagged images earlier builds and imports left (they carry the base's
# label); under vfs each is a full copy on disk
docker image prune -f --filter label=sedai.base >/dev/null
log "$IMAGE ready in $(( $(date +%s) - start )) s"
