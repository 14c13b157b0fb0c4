"""moto's S3-compatible server for the S3 store's tests (native/tests/support/s3.rs), with one
change from `python3 -m moto.server`: requests are handled one at a time.

moto checks a conditional write's precondition (If-Match, If-None-Match) and then writes, with
nothing in between that stops a concurrent request (moto/s3/responses.py, 5.2): two conditional
PUTs of the same object can both succeed, where S3 lets exactly one win. Its listings also fail
(500) when an object is added while they run. Handling one request at a time gives the
atomicity S3 guarantees; connections stay keep-alive (threaded server, one lock).

Usage: python3 moto_serial.py PORT   (binds 127.0.0.1; SIGTERM stops it)
"""

import signal
import sys
import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple


def main() -> None:
    port = int(sys.argv[1])
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def serial(environ, start_response):
        with lock:
            return list(app(environ, start_response))

    run_simple("127.0.0.1", port, serial, threaded=True)


if __name__ == "__main__":
    main()
