"""SMTP intake load against a running switchboard (see platform/server/LOAD.md).

    /usr/bin/python3 tests/load/smtp_load.py [http://127.0.0.1:8080] [127.0.0.1:2525] [messages] [connections]

Signs up a tenant with an inbound address, then sends `messages` (default 2000) over
`connections` (default 8) parallel SMTP sessions, several messages per session, and reports
messages accepted per second. Every message is a new conversation (its own Message-ID).
"""
import json
import smtplib
import sys
import threading
import time
import urllib.request
import uuid
from email.message import EmailMessage

base = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080"
host, port = (sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1:2525").split(":")
total = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
conns = int(sys.argv[4]) if len(sys.argv) > 4 else 8


def call(method, path, body, token=None):
    req = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode())
    req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", "Bearer " + token)
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read() or b"null")


tag = uuid.uuid4().hex[:10]
owner = call("POST", "/api/v1/signup", {"business_name": "Load", "email": f"load-{tag}@load.example",
                                          "password": "load test password 1"})
token = owner["tokens"]["access_token"]
queue = call("POST", "/api/v1/queues", {"name": "mail", "max_waiting": 1000000}, token)
address = f"help-{tag}@load.example"
call("POST", "/api/v1/endpoints", {"kind": "email_address", "address": address, "name": "mail",
                                   "queue_id": queue["id"]}, token)

sent = [0] * conns
errors = []


def worker(i):
    n = total // conns
    s = smtplib.SMTP(host, int(port), timeout=30)
    s.ehlo("load.example")
    for k in range(n):
        m = EmailMessage()
        m["From"] = f"customer{i}-{k}@example.com"
        m["To"] = address
        m["Subject"] = f"load {i}-{k}"
        m["Message-ID"] = f"<{uuid.uuid4().hex}@example.com>"
        m.set_content("Hello, this is a load test message.\n" * 5)
        try:
            s.send_message(m)
            sent[i] += 1
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(str(e))
        if k % 50 == 49:  # a fresh session now and then, as real senders do
            s.quit()
            s = smtplib.SMTP(host, int(port), timeout=30)
            s.ehlo("load.example")
    s.quit()


start = time.time()
threads = [threading.Thread(target=worker, args=(i,)) for i in range(conns)]
for t in threads:
    t.start()
for t in threads:
    t.join()
took = time.time() - start
print(f"smtp: {sum(sent)} messages accepted over {conns} connections in {took:.1f} s: "
      f"{sum(sent) / took:.0f} messages/s; {len(errors)} refused {errors[:3]}")
