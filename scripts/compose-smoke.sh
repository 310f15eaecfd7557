#!/usr/bin/env bash
# The docker lab's smoke test (docs/LAB.md): two peers in containers move a
# real file over TCP on the lab's internal network.
#
#   1. builds sedai:dev with scripts/lab-image.sh (skip with --no-build);
#   2. starts peer-a and peer-b (profile gen0) in a project of its own;
#   3. checks that peer-b's bootstrap dial (/dns4/peer-a/tcp/4001) connected it;
#   4. writes 20 MiB of random bytes in peer-a, `share`s them, `get`s the CID in
#      peer-b with --from /dns4/peer-a/tcp/4001;
#   5. compares the sha256 computed in each container and prints PASS or FAIL;
#   6. tears the project down (`down -v`), also on failure (after its logs).
#
# Any step that fails ends the run with FAIL.
#
# Exit code 0 on PASS, 1 otherwise. Environment: SEDAI_COMPOSE (the compose
# command; default `docker compose` when the v2 plugin exists, else
# docker-compose), SEDAI_SMOKE_MIB (file size, default 20).
set -euo pipefail
self=$(readlink -f "$0")
cd "$(dirname "$self")/.."

LOG_TAG=smoke
# shellcheck source=compose-common.sh
source scripts/compose-common.sh "$@"

PROJECT=sedai-smoke
MIB=${SEDAI_SMOKE_MIB:-20}
case "$MIB" in '' | *[!0-9]* | 0*) echo "SEDAI_SMOKE_MIB: '$MIB' is not a whole number of MiB from 1" >&2; exit 2 ;; esac
FILE=/data/share/random.bin
compose () { "${COMPOSE[@]}" -p "$PROJECT" --profile gen0 "$@"; }
# sedai CMD... in a container, as the lab drives it
sedai () { local c=$1; shift; docker exec "$c" node "$SEDAI" "$@" --repo /data --json; }
sha256_in () { sha256_of "$1" "$2"; }

passed=0
up=0
# on any exit: FAIL and the containers' last log lines unless it passed, then down -v
finish () {
  if [ "$passed" -ne 1 ]; then
    echo 'FAIL'
    if [ "$up" -eq 1 ]; then
      log 'logs of the failed run:'
      compose logs --no-color --tail=40 >&2 || true
    fi
  fi
  if [ "$up" -eq 1 ]; then
    compose down -v --remove-orphans >/dev/null 2>&1 || log "warning: '${COMPOSE[*]} -p $PROJECT down -v' failed"
  fi
}
trap finish EXIT
fail () { log "$*"; exit 1; }

if [ "$build" -eq 1 ]; then
  t=$(now)
  bash scripts/lab-image.sh >&2 # stdout is for PASS/FAIL
  log "image built in $(ms_since "$t") ms"
fi
docker image inspect "${SEDAI_IMAGE:-sedai:dev}" >/dev/null 2>&1 || fail "no image ${SEDAI_IMAGE:-sedai:dev}: run scripts/lab-image.sh"

up=1
compose down -v --remove-orphans >/dev/null 2>&1 || true # leftovers of an interrupted run
t=$(now)
log "starting peer-a and peer-b with ${COMPOSE[*]}"
out=$(compose up -d --no-build 2>&1) || fail "compose up failed: $out"
A=$(compose ps -q peer-a)
B=$(compose ps -q peer-b)
if [ -z "$A" ] || [ -z "$B" ]; then fail 'peer-a or peer-b is not running'; fi

peer_a=
for _ in $(seq 1 60); do
  peer_a=$(sedai "$A" id 2>/dev/null | field peerId) || true
  if [ -n "$peer_a" ] && sedai "$B" id >/dev/null 2>&1; then break; fi
  peer_a=
  sleep 1
done
[ -n "$peer_a" ] || fail 'the daemons did not answer within 60 s'
log "both daemons up in $(ms_since "$t") ms; peer-a is $peer_a"

connected=0
for _ in $(seq 1 20); do
  if sedai "$B" peers | grep -q "\"peerId\": \"$peer_a\""; then connected=1; break; fi
  sleep 0.5
done
[ "$connected" -eq 1 ] || fail 'peer-b did not connect to peer-a with --bootstrap /dns4/peer-a/tcp/4001'
log "peer-b bootstrapped to peer-a: $(sedai "$B" peers | grep -o '"/[^"]*"' | head -n 1)"

docker exec "$A" node -e "const fs = require('node:fs'); fs.mkdirSync(require('node:path').dirname(process.argv[1]), { recursive: true }); fs.writeFileSync(process.argv[1], require('node:crypto').randomBytes(Number(process.argv[2]) * 1024 * 1024))" "$FILE" "$MIB"
cid=$(sedai "$A" share "$FILE" | field cid)
[ -n "$cid" ] || fail "peer-a could not share $FILE"
log "peer-a shares $MIB MiB as $cid"

t=$(now)
got=$(sedai "$B" get "$cid" --from /dns4/peer-a/tcp/4001 --timeout-ms 120000) || fail "peer-b could not get $cid: $got"
elapsed=$(ms_since "$t")
path=$(printf '%s\n' "$got" | field path)
printf '%s\n' "$got" | grep -q "\"$peer_a\"" || fail "peer-a is not among the sources: $got"
log "peer-b got $path in $elapsed ms ($(( MIB * 1000 / (elapsed > 0 ? elapsed : 1) )) MiB/s, get command included)"

want=$(sha256_in "$A" "$FILE")
have=$(sha256_in "$B" "$path")
log "sha256 in peer-a: $want"
log "sha256 in peer-b: $have"
if [ -z "$want" ] || [ "$want" != "$have" ]; then fail 'the hashes differ'; fi
passed=1
echo 'PASS'
