#!/usr/bin/env bash
# Fixed iff: over the next 3 seconds of the real access log, at most 5% of responses are 429
# while the client still sends requests.
source "$(dirname "$0")/../lib.sh"
need_workdir "$@"
log="$WORKDIR/access.log"
start=$(wc -l <"$log"); sleep 3
read -r n r < <(tail -n +"$((start + 1))" "$log" | awk '{ n++; if ($9 == 429) r++ } END { print n + 0, r + 0 }')
echo "last 3s: $n requests, $r answered 429; client rate now $(cat "$WORKDIR/client.rate")/s"
[ "$n" -gt 0 ] || { echo "FAIL: no traffic at all"; exit 1; }
[ $((100 * r / n)) -le 5 ] || { echo "FAIL: still rate limited"; exit 1; }
