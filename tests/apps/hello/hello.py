"""The smallest app jib can deploy: a dependency-free WSGI callable."""
import os


def app(environ, start_response):
    body = ("hello from %s\n" % os.environ.get("JIB_BRANCH", "?")).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
