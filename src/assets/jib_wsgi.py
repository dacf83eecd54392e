"""jib's WSGI entry point, shared by every app of a root (uWSGI `wsgi-file`).

Each worker loads the release its instance was started for (lazy-apps): the one the agent
pinned, or `<app dir>/current` as it is when the worker starts (a chain reload of an app that
scales to zero). The release brings its venv, entry point and environment.
Run as a script it checks that a release imports, before any traffic is switched to it.
"""
import importlib
import json
import os
import site
import sys
import traceback


def load(app_dir, release_dir):
    with open(os.path.join(release_dir, "release.json")) as f:
        meta = json.load(f)
    os.environ.update(meta.get("env", {}))
    try:
        with open(os.path.join(app_dir, "env.json")) as f:
            os.environ.update(json.load(f))
    except FileNotFoundError:
        pass
    os.environ["JIB_RELEASE"] = meta["id"]
    os.environ["JIB_COMMIT"] = meta["commit"]
    site.addsitedir(meta["site_packages"])
    src = os.path.join(release_dir, "src")
    os.chdir(src)
    sys.path.insert(0, src)
    module, _, attr = meta["entry"].partition(":")
    app = importlib.import_module(module)
    for part in attr.split("."):
        app = getattr(app, part)
    if not callable(app):
        raise TypeError("%s is not callable" % meta["entry"])
    return app, meta["id"]


def release_dir(app_dir, instance):
    """The release an instance runs: the one the agent pinned it to when it started it
    (`<app dir>/<instance>.release`), else the one `current` points at."""
    if instance and "/" not in instance:
        try:
            with open(os.path.join(app_dir, instance + ".release")) as f:
                rid = f.read().strip()
            if rid and "/" not in rid and not rid.startswith("."):
                return os.path.join(app_dir, "releases", rid)
        except FileNotFoundError:
            pass
    return os.path.realpath(os.path.join(app_dir, "current"))


def node_of(app_dir, instance):
    """On a fleet host: the address the instance listens on (`<instance>.addr`), which tells
    the routers' check one host from another even when two named their releases alike."""
    try:
        with open(os.path.join(app_dir, instance + ".addr")) as f:
            return f.read(256).strip()
    except (OSError, ValueError):
        return ""


def wrap(app, release, node=""):
    """Tags health-check responses with the release (and fleet node) that served them."""
    tags = [("X-Jib-Release", release)] + ([("X-Jib-Node", node)] if node else [])

    def application(environ, start_response):
        if not environ.get("HTTP_X_JIB_HEALTH"):
            return app(environ, start_response)

        def tagged(status, headers, exc_info=None):
            return start_response(status, list(headers) + tags, exc_info)

        return app(environ, tagged)

    return application


if __name__ == "__main__":
    # python jib_wsgi.py --check <app dir> <release dir>
    load(sys.argv[2], sys.argv[3])
    print("ok")
else:
    _app_dir = os.environ["JIB_APP_DIR"]
    _instance = os.environ.get("JIB_INSTANCE", "")
    try:
        _app, _release = load(_app_dir, release_dir(_app_dir, _instance))
    except BaseException:
        # Tell a switch waiting on this instance at once, rather than at its timeout, and why;
        # the traceback goes to the app's log as usual too.
        if _instance and "/" not in _instance:
            _failed = os.path.join(_app_dir, "run", _instance + ".failed")
            try:
                # Whole or not at all: the agent acts as soon as the name appears.
                with open(_failed + ".%d" % os.getpid(), "w") as _f:
                    _f.write(traceback.format_exc()[-16000:])
                os.replace(_failed + ".%d" % os.getpid(), _failed)
            except OSError:
                pass
        raise
    application = wrap(
        _app, _release, node_of(_app_dir, _instance) if _instance and "/" not in _instance else ""
    )
    # Tell the agent which release this worker runs, so a deploy knows when every worker has it.
    _workers = os.path.join(_app_dir, "workers")
    os.makedirs(_workers, exist_ok=True)
    _tmp = os.path.join(_workers, ".%d.tmp" % os.getpid())
    with open(_tmp, "w") as _f:
        _f.write("%s\n%s\n" % (_release, _instance))
    os.replace(_tmp, os.path.join(_workers, str(os.getpid())))
