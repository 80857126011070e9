"""A noisy batch job behind a load balancer: requests as fast as RATEFILE says (requests per second),
re-read each second, with its API key in the query string and the balancer's X-Forwarded-For.
Usage: client.py URL RATEFILE"""
import sys, time, urllib.error, urllib.request

url, ratefile = sys.argv[1], sys.argv[2]
while True:
    try:
        rate = max(0.1, float(open(ratefile).read().strip()))
    except (OSError, ValueError):
        rate = 1.0
    t_end = time.time() + 1
    while time.time() < t_end:
        req = urllib.request.Request(
            url + "?api_key=batch7f3a9c1d2e4b&page=1",
            headers={"X-Client": "batch-job", "User-Agent": "batch-job/1.0",
                     "X-Forwarded-For": "203.0.113.7, 10.0.0.1"})
        try:
            urllib.request.urlopen(req, timeout=5).read()
        except urllib.error.HTTPError:
            pass
        except OSError:
            time.sleep(0.5)
        time.sleep(1.0 / rate)
