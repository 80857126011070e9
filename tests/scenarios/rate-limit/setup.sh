#!/usr/bin/env bash
# rate-limit: an API on 127.0.0.1 (random port) allowing 10 requests/s, and a batch-job client
# sending ~25/s, so most of its requests get 429. The throttle knob is WORKDIR/client.rate
# (requests per second), re-read by the client every second.
# VARIANT=silent: the team's "throttle" stops the client altogether: no traffic, which is not healthy;
# and the server gives Retry-After as an HTTP date.
source "$(dirname "$0")/../lib.sh"
need_workdir "$@"
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$WORKDIR"
: >"$WORKDIR/access.log"
[ "${VARIANT:-}" != silent ] || export RETRY_AFTER_DATE=1
setsid python3 "$HERE/server.py" "$WORKDIR/port" "$WORKDIR/access.log" 10 </dev/null >"$WORKDIR/server.err" 2>&1 &
echo $! >"$WORKDIR/server.pid"
wait_for 10 "the server's port" test -s "$WORKDIR/port"
URL="http://127.0.0.1:$(cat "$WORKDIR/port")/api/orders"
echo 25 >"$WORKDIR/client.rate"
setsid python3 "$HERE/client.py" "$URL" "$WORKDIR/client.rate" </dev/null >/dev/null 2>&1 &
echo $! >"$WORKDIR/client.pid"
limited() { [ "$(grep -c '" 429 ' "$WORKDIR/access.log")" -ge 20 ]; }
wait_for 20 "the client to be rate limited" limited
throttle="echo 5 > $WORKDIR/client.rate"
[ "${VARIANT:-}" != silent ] || throttle="kill -STOP \$(cat $WORKDIR/client.pid)"
cat >"$WORKDIR/params" <<P
access_log=$WORKDIR/access.log
url=$URL
probes=3
sample_seconds=3
max_429_pct=5
evidence_dir=$WORKDIR/evidence
throttle_command=$throttle
unthrottle_command=echo 25 > $WORKDIR/client.rate
watch_every=1s
watch_for=4s
P
echo "setup done: $URL limited at 10/s, client at 25/s"
