"""A service that leaks: it keeps 1 MiB of every "request" forever (capped at 400 MiB)."""
import os, sys, time

leak = []
rate_mib_s, cap_mib = int(sys.argv[1]), 400
while True:
    if len(leak) < cap_mib:
        leak.append(os.urandom(1 << 20))  # random bytes: really resident, not shared zero pages
    time.sleep(1.0 / rate_mib_s)
