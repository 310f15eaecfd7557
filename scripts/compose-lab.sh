#!/usr/bin/env bash
# The docker lab's cross-generation test (docs/LAB.md, `npm run test:lab`): the
# `mixed` profile runs the four generations on one network with two bridges,
# and files cross from one generation to another through them.
#
#   1. builds sedai:dev with scripts/lab-image.sh (skip with --no-build);
#   2. starts the 12 nodes of the `mixed` profile in a project of its own
#      (sedai-lab) and waits until every daemon answers `sedai id`;
#   3. (a) Gen 1 -> Gen 2: a file shared on mx-dirpeer (directory only) is
#      found through the directory server and fetched by mx-hybrid
#      (directory,flood); a pure flood peer (mx-flood-2) then finds it by
#      flooding, the bridge being its only holder there, and fetches it;
#      (b) DHT -> Gen 3: a file shared on mx-dht-3 (dht only) is fetched by
#      mx-sndht (supernode,dht) with a `get CID` without --from (the DHT's
#      providers); the leaf mx-leaf (supernode only) then finds it through its
#      supernode and fetches it in-band through mx-sn;
#      every transfer is checked by sha256 in both containers;
#   4. SIGKILLs the directory server: mx-dirpeer's search fails within seconds
#      with an error (Gen 1 has nothing else), mx-hybrid's still answers
#      through flooding, and a DHT peer's keyword search still answers;
#   5. LAN discovery: starts lan-a and lan-b (profile lan) on the same network,
#      daemons as a user starts them (no --mode: the default, dht) with --mdns
#      and no --bootstrap; they must find each other by multicast DNS, and
#      lan-b searches a file shared on lan-a and gets it (sha256 checked);
#   6. prints each step's time on stderr and PASS or FAIL on stdout, and tears
#      the project down (`down -v`), also on failure (after the nodes' logs).
#
# Searches and gets are retried every 2 s while the overlays form (at most
# 90 s per search, 120 s per get, none past the deadline below).
#
# Exit code 0 on PASS, 1 otherwise. Environment: SEDAI_COMPOSE (the compose
# command; default `docker compose` when the v2 plugin exists, else
# docker-compose), SEDAI_LAB_KIB (size of each file, default 3072),
# SEDAI_LAB_DEADLINE_S (no retry starts later than this many seconds after the
# image build, default 600).
set -euo pipefail
self=$(readlink -f "$0")
cd "$(dirname "$self")/.."

LOG_TAG=lab
# shellcheck source=compose-common.sh
source scripts/compose-common.sh "$@"

PROJECT=sedai-lab
KIB=${SEDAI_LAB_KIB:-3072}
case "$KIB" in '' | *[!0-9]* | 0*) echo "SEDAI_LAB_KIB: '$KIB' is not a whole number of KiB from 1" >&2; exit 2 ;; esac
DEADLINE_S=${SEDAI_LAB_DEADLINE_S:-600}
case "$DEADLINE_S" in '' | *[!0-9]* | 0*) echo "SEDAI_LAB_DEADLINE_S: '$DEADLINE_S' is not a whole number of seconds from 1" >&2; exit 2 ;; esac
SERVICES=(mx-dir mx-dirpeer mx-hybrid mx-flood-1 mx-flood-2 mx-flood-3 mx-sn mx-leaf mx-sndht mx-dht-1 mx-dht-2 mx-dht-3)
LAN=(lan-a lan-b)
# both profiles, so that `down` removes every container; `up` names the services it starts
compose () { "${COMPOSE[@]}" -p "$PROJECT" --profile mixed --profile lan "$@"; }

declare -A ctr=()  # service -> container id
declare -A peer=() # service -> peer id
# sedai CMD... in a service's container, as the lab drives it
sedai () { local s=$1; shift; docker exec "${ctr[$s]}" node "$SEDAI" "$@" --repo /data --json; }
sha256_in () { sha256_of "${ctr[$1]}" "$2"; }
# writes SEDAI_LAB_KIB random KiB to PATH in a service's container
random_file () { docker exec "${ctr[$1]}" node -e "const fs = require('node:fs'); fs.mkdirSync(require('node:path').dirname(process.argv[1]), { recursive: true }); fs.writeFileSync(process.argv[1], require('node:crypto').randomBytes(Number(process.argv[2]) * 1024))" "$2" "$KIB"; }

as_root () { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n "$@"; fi; }
# the iptables rule step 5 adds for mDNS on the lab's bridge (empty until then)
mdns_rule=()

passed=0
up=0
total=$(now)
# on any exit: FAIL and the nodes' last log lines unless it passed, then down -v
finish () {
  if [ "${#mdns_rule[@]}" -gt 0 ]; then
    as_root iptables -D "${mdns_rule[@]}" 2>/dev/null || log "warning: could not remove the iptables rule: iptables -D ${mdns_rule[*]}"
  fi
  if [ "$passed" -ne 1 ]; then
    echo 'FAIL'
    if [ "$up" -eq 1 ]; then
      log 'logs of the failed run:'
      compose logs --no-color --tail=25 >&2 || true
    fi
  fi
  if [ "$up" -eq 1 ]; then
    local t
    t=$(now)
    if compose down -v --remove-orphans >/dev/null 2>&1; then
      log "project $PROJECT removed (down -v) in $(ms_since "$t") ms; whole run $(( $(ms_since "$total") / 1000 )) s"
    else
      log "warning: '${COMPOSE[*]} -p $PROJECT --profile mixed --profile lan down -v' failed"
    fi
  fi
}
trap finish EXIT
fail () { log "$*"; exit 1; }

# until CMD... succeeds: every 2 s, for at most LIMIT s and never past the run's deadline
until_ok () {
  local limit=$1 end
  shift
  end=$(( $(date +%s) + limit ))
  if [ "$end" -gt "$deadline" ]; then end=$deadline; fi
  while true; do
    if "$@"; then return 0; fi
    if [ "$(date +%s)" -ge "$end" ]; then return 1; fi
    sleep 2
  done
}

# search QUERY in SERVICE until a result has CID and names PROVIDER (a peer id); the answer in $out
out=
found () {
  local service=$1 query=$2 cid=$3 provider=$4
  out=$(sedai "$service" search "$query" 2>/dev/null) || return 1
  printf '%s\n' "$out" | grep -q "\"cid\": \"$cid\"" && printf '%s\n' "$out" | grep -q "\"$provider\""
}
# get CID in SERVICE (no --from: the daemon's modes find the sources); the answer in $out
fetched () {
  out=$(sedai "$1" get "$2" --timeout-ms "${3:-120000}" 2>&1) && [ -n "$(printf '%s\n' "$out" | field path)" ]
}
# the sha256 of SRC_PATH in SRC_SERVICE equals that of DST_PATH in DST_SERVICE
same_bytes () {
  local want have
  want=$(sha256_in "$1" "$2")
  have=$(sha256_in "$3" "$4")
  log "  sha256 in $1: $want"
  log "  sha256 in $3: $have"
  [ -n "$want" ] && [ "$want" = "$have" ]
}

if [ "$build" -eq 1 ]; then
  t=$(now)
  bash scripts/lab-image.sh >&2 # stdout is for PASS/FAIL
  log "step 1: image built in $(ms_since "$t") ms"
else
  log 'step 1: image build skipped (--no-build)'
fi
docker image inspect "${SEDAI_IMAGE:-sedai:dev}" >/dev/null 2>&1 || fail "no image ${SEDAI_IMAGE:-sedai:dev}: run scripts/lab-image.sh"
deadline=$(( $(date +%s) + DEADLINE_S ))

# --- step 2: the 12 nodes up ---
up=1
compose down -v --remove-orphans >/dev/null 2>&1 || true # leftovers of an interrupted run
t=$(now)
log "step 2: starting the mixed profile (${#SERVICES[@]} nodes) with ${COMPOSE[*]}"
out=$(compose up -d --no-build "${SERVICES[@]}" 2>&1) || fail "compose up failed: $out"
log "  compose up returned in $(ms_since "$t") ms"
containers () {
  local s
  for s in "$@"; do
    ctr[$s]=$(compose ps -q "$s")
    [ -n "${ctr[$s]}" ] || fail "$s is not running"
  done
}
containers "${SERVICES[@]}"
# every SERVICE answers `sedai id` (its peer id in peer[SERVICE])
all_up () {
  local s
  for s in "$@"; do
    if [ -z "${peer[$s]:-}" ]; then
      peer[$s]=$(sedai "$s" id 2>/dev/null | field peerId) || true
      [ -n "${peer[$s]}" ] || { unset "peer[$s]"; return 1; }
    fi
  done
}
until_ok 180 all_up "${SERVICES[@]}" || fail "not every daemon answered 'sedai id' within 180 s (up: ${!peer[*]})"
log "step 2: all ${#SERVICES[@]} daemons answer 'sedai id' after $(ms_since "$t") ms"
for s in "${SERVICES[@]}"; do log "  $s: ${peer[$s]}"; done

run=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n') # one run's file names, so that no search can match anything older
name_a=winmx$run.bin
name_b=kademlia$run.bin

# --- step 3a: Gen 1 -> bridge -> Gen 2 ---
t=$(now)
random_file mx-dirpeer "/data/share/$name_a"
cid_a=$(sedai mx-dirpeer share "/data/share/$name_a" | field cid)
[ -n "$cid_a" ] || fail "mx-dirpeer could not share $name_a"
log "step 3a: mx-dirpeer (directory) shares $name_a ($KIB KiB) as $cid_a"

s=$(now)
until_ok 90 found mx-hybrid "winmx$run" "$cid_a" "${peer[mx-dirpeer]}" || fail "mx-hybrid's search did not find $cid_a at mx-dirpeer within 90 s: $out"
printf '%s\n' "$out" | grep -q '"note"' && fail "mx-hybrid's search was not answered by the directory: $out"
log "  mx-hybrid (directory,flood) found it through the directory server in $(ms_since "$s") ms"
s=$(now)
until_ok 120 fetched mx-hybrid "$cid_a" || fail "mx-hybrid could not get $cid_a: $out"
printf '%s\n' "$out" | grep -q "\"${peer[mx-dirpeer]}\"" || fail "mx-dirpeer is not among mx-hybrid's sources: $out"
path_a_hybrid=$(printf '%s\n' "$out" | field path)
log "  mx-hybrid got it from mx-dirpeer in $(ms_since "$s") ms (get without --from)"
same_bytes mx-dirpeer "/data/share/$name_a" mx-hybrid "$path_a_hybrid" || fail 'the hashes differ (mx-dirpeer -> mx-hybrid)'

s=$(now)
until_ok 90 found mx-flood-2 "winmx$run" "$cid_a" "${peer[mx-hybrid]}" || fail "mx-flood-2's flooded search did not find $cid_a at mx-hybrid within 90 s: $out"
log "  mx-flood-2 (flood) found it at the bridge mx-hybrid by flooding in $(ms_since "$s") ms"
s=$(now)
until_ok 120 fetched mx-flood-2 "$cid_a" || fail "mx-flood-2 could not get $cid_a: $out"
printf '%s\n' "$out" | grep -q "\"${peer[mx-hybrid]}\"" || fail "mx-hybrid is not among mx-flood-2's sources: $out"
path_a_flood=$(printf '%s\n' "$out" | field path)
log "  mx-flood-2 got it from mx-hybrid in $(ms_since "$s") ms (get without --from)"
same_bytes mx-dirpeer "/data/share/$name_a" mx-flood-2 "$path_a_flood" || fail 'the hashes differ (mx-dirpeer -> mx-flood-2)'
log "step 3a: Gen 1 -> Gen 2 through the bridge in $(ms_since "$t") ms"

# --- step 3b: DHT -> bridge -> Gen 3 ---
t=$(now)
random_file mx-dht-3 "/data/share/$name_b"
cid_b=$(sedai mx-dht-3 share "/data/share/$name_b" | field cid)
[ -n "$cid_b" ] || fail "mx-dht-3 could not share $name_b"
log "step 3b: mx-dht-3 (dht) shares $name_b ($KIB KiB) as $cid_b"

s=$(now)
until_ok 120 fetched mx-sndht "$cid_b" 60000 || fail "mx-sndht could not get $cid_b within 120 s: $out"
printf '%s\n' "$out" | grep -q "\"${peer[mx-dht-3]}\"" || fail "mx-dht-3 is not among mx-sndht's sources: $out"
path_b_sndht=$(printf '%s\n' "$out" | field path)
# the DHT found the provider: a lookup with a provider other than itself (not the fallback to connected peers)
dht_found=$(sedai mx-sndht stats | tr -d ' \n' | grep -o '"lookups":{"lookups":[0-9]*,"found":[0-9]*' | sed 's/.*"found"://' || true)
[ "${dht_found:-0}" -ge 1 ] || fail "mx-sndht's DHT lookups found no provider (stats: ${dht_found:-none}), so the DHT did not bring the source"
log "  mx-sndht (supernode,dht) got it in $(ms_since "$s") ms (get CID without --from: no supernode path, then the DHT's providers; lookups that found one: $dht_found)"
same_bytes mx-dht-3 "/data/share/$name_b" mx-sndht "$path_b_sndht" || fail 'the hashes differ (mx-dht-3 -> mx-sndht)'

s=$(now)
until_ok 90 found mx-leaf "kademlia$run" "$cid_b" "${peer[mx-sndht]}" || fail "mx-leaf's search did not find $cid_b at mx-sndht within 90 s: $out"
log "  mx-leaf (supernode leaf) found it at mx-sndht through mx-sn in $(ms_since "$s") ms"
s=$(now)
until_ok 120 fetched mx-leaf "$cid_b" || fail "mx-leaf could not get $cid_b: $out"
printf '%s\n' "$out" | grep -q "\"${peer[mx-sndht]}\"" || fail "mx-sndht is not the responder of mx-leaf's in-band get: $out"
path_b_leaf=$(printf '%s\n' "$out" | field path)
# what mx-sn served: from its own store, its cache, or relayed from upstream (the responder mx-sndht)
served=$(sedai mx-sn stats | tr -d ' \n' | grep -o '"bytesServed":{[^}]*}' | head -n 1 | sed 's/"bytesServed"://; s/[{}"]//g; s/:/ /g; s/,/, /g' || true)
log "  mx-leaf got it in-band in $(ms_since "$s") ms; bytes mx-sn served: ${served:-?}"
same_bytes mx-dht-3 "/data/share/$name_b" mx-leaf "$path_b_leaf" || fail 'the hashes differ (mx-dht-3 -> mx-leaf)'
log "step 3b: DHT -> Gen 3 through the bridge in $(ms_since "$t") ms"

# --- step 4: the directory server dies ---
t=$(now)
docker kill "${ctr[mx-dir]}" >/dev/null || fail 'docker kill mx-dir failed'
log 'step 4: mx-dir (directory server) killed with SIGKILL'
s=$(now)
if out=$(sedai mx-dirpeer search "winmx$run" 2>/dev/null); then
  fail "mx-dirpeer's search succeeded without its directory server: $out"
fi
elapsed=$(ms_since "$s")
printf '%s\n' "$out" | grep -q '"code": *"ERR_' || fail "mx-dirpeer's search failed without an error code ($elapsed ms): $out"
[ "$elapsed" -lt 15000 ] || fail "mx-dirpeer's search took $elapsed ms to fail (not fast): $out"
log "  mx-dirpeer (directory only): search fails in $elapsed ms: $(printf '%s\n' "$out" | tr -d '\n' | grep -o '"message": *"[^"]*"' | head -n 1)"

s=$(now)
until_ok 30 found mx-hybrid "winmx$run" "$cid_a" "${peer[mx-flood-2]}" || fail "mx-hybrid's search did not fall back to flooding: $out"
printf '%s\n' "$out" | grep -q 'answered by flood' || fail "mx-hybrid's answer does not say flooding answered: $out"
log "  mx-hybrid (directory,flood): search answered by flooding in $(ms_since "$s") ms: $(printf '%s\n' "$out" | field note)"

s=$(now)
until_ok 30 found mx-dht-1 "kademlia$run" "$cid_b" "${peer[mx-dht-3]}" || fail "mx-dht-1's keyword search did not find $cid_b: $out"
log "  mx-dht-1 (dht): keyword search answered in $(ms_since "$s") ms, providers: $(printf '%s\n' "$out" | grep -c '"12D3KooW')"
log "step 4: done in $(ms_since "$t") ms"

# --- step 5: LAN discovery, daemons as started (the default mode) with --mdns, no --bootstrap ---
t=$(now)
# Docker drops every packet an internal network's containers send outside its subnet
# (DOCKER-ISOLATION-STAGE-1: `! -d SUBNET -i BRIDGE -j DROP`), multicast included once bridged
# frames pass iptables (br_netfilter, as here): mDNS would never reach the other container. One rule
# in DOCKER-USER (evaluated first, left alone by docker) lets the mDNS group through on this
# network's bridge only, between its own containers; finish removes it.
net=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.NetworkID}}{{end}}' "${ctr[mx-dht-1]}")
bridge=$(docker network inspect -f '{{index .Options "com.docker.network.bridge.name"}}' "$net" 2>/dev/null || true)
if [ -z "$bridge" ] || [ "$bridge" = '<no value>' ]; then bridge="br-${net:0:12}"; fi
if command -v iptables >/dev/null && as_root iptables -n -L DOCKER-USER >/dev/null 2>&1; then
  rule=(DOCKER-USER -i "$bridge" -o "$bridge" -d 224.0.0.251/32 -p udp --dport 5353 -j ACCEPT)
  as_root iptables -I "${rule[@]}" || fail "could not add the iptables rule for mDNS: iptables -I ${rule[*]}"
  mdns_rule=("${rule[@]}")
  log "step 5: mDNS (224.0.0.251 udp/5353) let through on the lab network's bridge $bridge (iptables DOCKER-USER, removed at the end)"
else
  log "step 5: no iptables DOCKER-USER chain here: mDNS between the containers relies on docker letting multicast through"
fi
out=$(compose up -d --no-build "${LAN[@]}" 2>&1) || fail "compose up ${LAN[*]} failed: $out"
containers "${LAN[@]}"
until_ok 120 all_up "${LAN[@]}" || fail "lan-a and lan-b did not answer 'sedai id' within 120 s"
for s in "${LAN[@]}"; do
  modes=$(sedai "$s" id | tr -d ' \n' | grep -o '"modes":\[[^]]*\]' || true)
  [ "$modes" = '"modes":["dht"]' ] || fail "$s does not run the default mode dht: ${modes:-no modes}"
done
log "step 5: lan-a ${peer[lan-a]} and lan-b ${peer[lan-b]} up (modes [\"dht\"], the default; --mdns, no --bootstrap) after $(ms_since "$t") ms"

# the LAN peer each found by mDNS (stats.mdns.found) and is connected to
met () {
  local s=$1 other=$2 n
  n=$(sedai "$s" stats | tr -d ' \n' | grep -o '"mdns":{"found":[0-9]*' | sed 's/.*://' || true)
  [ "${n:-0}" -ge 1 ] && sedai "$s" peers | grep -q "\"peerId\": \"${peer[$other]}\""
}
s=$(now)
until_ok 60 met lan-b lan-a || fail "lan-b did not find lan-a by mDNS within 60 s"
until_ok 30 met lan-a lan-b || fail "lan-a did not find lan-b by mDNS within 30 s"
log "  lan-a and lan-b found each other by mDNS and connected in $(ms_since "$s") ms: $(compose logs --no-color lan-b 2>/dev/null | grep -o '"msg":"LAN peer found (mDNS)"' | head -n 1)"

name_c=lanparty$run.bin
random_file lan-a "/data/share/$name_c"
cid_c=$(sedai lan-a share "/data/share/$name_c" | field cid)
[ -n "$cid_c" ] || fail "lan-a could not share $name_c"
log "  lan-a shares $name_c ($KIB KiB) as $cid_c"
s=$(now)
until_ok 90 found lan-b "lanparty$run" "$cid_c" "${peer[lan-a]}" || fail "lan-b's search did not find $cid_c at lan-a within 90 s: $out"
log "  lan-b found it at lan-a through the DHT in $(ms_since "$s") ms (search lanparty$run)"
s=$(now)
until_ok 120 fetched lan-b "$cid_c" || fail "lan-b could not get $cid_c: $out"
printf '%s\n' "$out" | grep -q "\"${peer[lan-a]}\"" || fail "lan-a is not among lan-b's sources: $out"
path_c=$(printf '%s\n' "$out" | field path)
log "  lan-b got it from lan-a in $(ms_since "$s") ms (get without --from)"
same_bytes lan-a "/data/share/$name_c" lan-b "$path_c" || fail 'the hashes differ (lan-a -> lan-b)'
log "step 5: two daemons as started, --mdns and no --bootstrap, searched and fetched in $(ms_since "$t") ms"

log "all steps in $(ms_since "$total") ms"
passed=1
echo 'PASS'
