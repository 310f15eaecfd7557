# Shared by the compose test scripts (compose-smoke.sh, compose-lab.sh); sourced,
# not run. The caller sets LOG_TAG first and has cd'ed to the repo root.
#   - parses the one flag both take (--no-build) into $build;
#   - picks the compose command: $SEDAI_COMPOSE, else `docker compose` when the
#     v2 plugin exists, else docker-compose (v1), into the array COMPOSE;
#   - exports SEDAI_BASE (the offline base, should compose ever build);
#   - defines log, now, ms_since, field and sha256_of.

build=1
for arg in "$@"; do
  case "$arg" in
    --no-build) build=0 ;;
    *) echo "usage: $0 [--no-build]" >&2; exit 2 ;;
  esac
done

# the compose file's build base, should compose ever build: the offline base
export SEDAI_BASE=${SEDAI_BASE:-sedai-base:22}
SEDAI=/app/packages/cli/bin/sedai.js

if [ -n "${SEDAI_COMPOSE:-}" ]; then
  read -r -a COMPOSE <<<"$SEDAI_COMPOSE"
elif docker compose version >/dev/null 2>&1; then
  COMPOSE=(docker compose)
else
  COMPOSE=(docker-compose)
fi

log () { printf '%s: %s\n' "$LOG_TAG" "$*" >&2; }
now () { date +%s%N; }
ms_since () { echo $(( ($(now) - $1) / 1000000 )); }
# one string field of the pretty-printed JSON document on stdin
field () { sed -n "s/^  \"$1\": \"\\([^\"]*\\)\".*/\\1/p" | head -n 1; }
# sha256_of CONTAINER PATH: the file's SHA-256 computed inside the container (hex)
sha256_of () { docker exec "$1" node -e "const h = require('node:crypto').createHash('sha256'); require('node:fs').createReadStream(process.argv[1]).on('data', d => h.update(d)).on('end', () => console.log(h.digest('hex')))" "$2"; }
