"""jib's process supervisor: runs an app's extra processes and cron entries (uWSGI attach-daemon).

    python jib_procs.py <app dir>

It lives and dies with the app's vassal and runs everything from the release `<app dir>/current`
points at, with that release's environment (as jib_wsgi.py builds it, plus the venv on PATH):

- `processes` in release.json (name -> shell command): each runs as `/bin/sh -c` in its own
  process group, output appended to log/proc-<name>.log, restarted when it exits (backoff 1 s
  doubling to 30 s, reset once a run lasted 60 s).
- `cron` in release.json (schedule -> shell command): `[sec] min hour dom month dow` with `*`,
  `*/n`, `a`, `a-b`, `a-b/n` and lists, in the server's local time; output goes to log/cron.log.
  A run is skipped while the previous run of the same entry is still going. With JIB_CRON=0
  (an environment on several hosts: every host but one) cron entries are left to another host.
- Of the supervisors of an app's instances, only the one holding run/procs.lock runs anything.
- Every second it checks `current` and the mtime of run/restart: when either changed, everything
  is stopped (SIGTERM to each group, SIGKILL after 10 s) and started again from the new release.
- run/procs.json describes what runs now; it is rewritten atomically whenever that changes.
- SIGTERM/SIGINT/SIGHUP, or the death of its parent (the uWSGI master), stop everything, then it
  exits 0. With nothing to run it keeps watching, since uWSGI would respawn it if it exited.
Problems are logged to log/proc-supervisor.log; bad input never makes it exit.
"""
import fcntl
import json
import os
import re
import signal
import subprocess
import sys
import time
import traceback

BACKOFF_MAX, STABLE_AFTER, STOP_TIMEOUT = 30, 60, 10
# (lowest, highest) of each cron field, seconds first; dow 7 is folded to 0 (Sunday).
FIELDS = [(0, 59), (0, 59), (0, 23), (1, 31), (1, 12), (0, 7)]


def utc(ts=None):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def parse_field(text, lo, hi):
    values = set()
    for part in text.split(","):
        span, slash, step = part.partition("/")
        if span == "*":
            first, last = lo, hi
        elif "-" in span:
            first, last = (int(x) for x in span.split("-", 1))
        else:
            first = int(span)
            last = hi if slash else first  # "a/n" means from a to the end, every n
        step = int(step) if slash else 1
        if step < 1 or not lo <= first <= last <= hi:
            raise ValueError("%r is out of range %d-%d" % (part, lo, hi))
        values.update(range(first, last + 1, step))
    return values


class Cron:
    def __init__(self, schedule, command):
        fields = schedule.split()
        if len(fields) == 5:
            fields = ["0"] + fields
        if len(fields) != 6:
            raise ValueError("a schedule has 5 or 6 fields")
        self.sets = [parse_field(f, lo, hi) for f, (lo, hi) in zip(fields, FIELDS)]
        self.sets[5] = {d % 7 for d in self.sets[5]}
        # Like cron: when both day fields are restricted, a day matching either one is due.
        self.either_day = not fields[3].startswith("*") and not fields[5].startswith("*")
        self.schedule, self.command = schedule, command
        self.job, self.last_run, self.last_status = None, None, None

    def due(self, t):
        sec, minute, hour, dom, month, dow = self.sets
        if t.tm_sec not in sec or t.tm_min not in minute or t.tm_hour not in hour:
            return False
        day = (t.tm_mday in dom, (t.tm_wday + 1) % 7 in dow)  # tm_wday: Monday is 0
        return t.tm_mon in month and (any(day) if self.either_day else all(day))


class Proc:
    def __init__(self, name, command):
        self.name, self.command = name, command
        self.log = "proc-%s.log" % re.sub(r"[^A-Za-z0-9_.-]", "_", name)
        self.popen, self.started, self.starts = None, None, 0
        self.delay, self.next_start = 1, 0.0


def exited(popen):
    """Whether the group leader is dead, leaving it a zombie: its pid, hence its process
    group id, cannot be reused until we reap it, so killing the group stays safe."""
    if popen.returncode is not None:
        return True
    try:
        return os.waitid(os.P_PID, popen.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def killpg(popen, sig):
    try:
        os.killpg(popen.pid, sig)
    except OSError:
        pass  # the group is empty already


def finish(popen):
    """SIGKILL the group (the leader too, if still there) and reap the leader."""
    if popen.returncode is None:  # once reaped, the group id may belong to someone else
        killpg(popen, signal.SIGKILL)
    try:
        return popen.wait(timeout=5)
    except subprocess.TimeoutExpired:
        return None


def reap(popen):
    """Exit status of a finished leader (None while it runs); what it left behind is killed,
    so nothing of an old run survives as an orphan."""
    return finish(popen) if exited(popen) else None


def describe(status):
    return "killed by signal %d" % -status if status < 0 else "exited with status %d" % status


class Supervisor:
    def __init__(self, app_dir):
        self.app_dir = app_dir
        self.ppid = os.getppid()
        self.stopping = False
        self.loaded = None  # (release dir, restart mtime) of what runs now
        self.lock = None  # run/procs.lock, once this supervisor is the app's
        self.release, self.env, self.cwd = None, None, None
        self.procs, self.crons = {}, {}
        self.cron_second = None
        self.last_state = self.last_error = None
        for d in ("log", "run"):
            try:
                os.makedirs(self.path(d), exist_ok=True)
            except OSError as e:
                sys.stderr.write("jib_procs: %s\n" % e)

    def path(self, *parts):
        return os.path.join(self.app_dir, *parts)

    def log(self, message):
        self.append("proc-supervisor.log", "%s %s" % (utc(), message))

    def append(self, name, line):
        try:
            with open(self.path("log", name), "a") as f:
                f.write(line + "\n")
        except OSError as e:  # uWSGI's log is the last resort
            sys.stderr.write("%s\ncannot write log/%s: %s\n" % (line, name, e))

    def run(self):
        def on_signal(signum, frame):
            self.stopping = True

        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, on_signal)
        try:
            while not self.stopping:
                try:
                    self.tick()
                except Exception:
                    self.log("internal error:\n" + traceback.format_exc())
                time.sleep(1.01 - time.time() % 1)  # wake just after each second starts
        finally:
            if self.lock is not None:
                self.stop_all()
                self.write_state()
                self.log("stopped")

    def holds_lock(self):
        """During a blue/green switch two instances of the app run, each with a supervisor:
        only the one holding run/procs.lock runs anything; the next takes over once the old
        instance (and its supervisor) is gone."""
        if self.lock is None:
            try:
                fd = os.open(self.path("run", "procs.lock"),
                             os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o640)
            except OSError as e:
                self.log("cannot open run/procs.lock: %s" % e)
                return False
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                return False
            self.lock = fd
        return True

    def tick(self):
        if os.getppid() != self.ppid:
            self.log("parent process gone, stopping")
            self.stopping = True
            return
        if not self.holds_lock():
            return
        try:
            mtime = os.stat(self.path("run", "restart")).st_mtime_ns
        except OSError:
            mtime = None
        key = (os.path.realpath(self.path("current")), mtime)
        if key != self.loaded:
            self.reload(key)
        now = time.time()
        self.supervise(now)
        self.run_cron(now)
        self.write_state()

    def reload(self, key):
        if self.loaded is not None:
            self.log("release changed" if key[0] != self.loaded[0] else "restart requested")
            self.stop_all()
            self.loaded, self.release, self.procs, self.crons = None, None, {}, {}
            if self.stopping:
                return
        try:
            self.load(key[0])
        except Exception as e:
            message = "cannot load release %s: %s: %s" % (key[0], type(e).__name__, e)
            if message != self.last_error:  # retried every second: say it once
                self.log(message)
                self.last_error = message
            return
        self.loaded, self.last_error = key, None
        self.log("release %s: %d processes, %d cron entries"
                 % (self.release, len(self.procs), len(self.crons)))

    def load(self, release_dir):
        with open(os.path.join(release_dir, "release.json")) as f:
            meta = json.load(f)
        env = dict(os.environ)
        env.update({k: str(v) for k, v in (meta.get("env") or {}).items() if v is not None})
        try:
            with open(self.path("env.json")) as f:
                extra = json.load(f)
            env.update({k: str(v) for k, v in extra.items() if v is not None})
        except FileNotFoundError:
            pass
        except (ValueError, AttributeError, OSError) as e:
            self.log("ignoring env.json: %s" % e)  # better run without it than not at all
        env["JIB_RELEASE"], env["JIB_COMMIT"] = str(meta["id"]), str(meta.get("commit", ""))
        src = os.path.join(release_dir, "src")
        if meta.get("site_packages"):
            venv = os.path.realpath(os.path.join(meta["site_packages"], "..", "..", ".."))
            env["VIRTUAL_ENV"] = venv
            env["PATH"] = os.path.join(venv, "bin") + os.pathsep + env.get("PATH", os.defpath)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
        env["PYTHONUNBUFFERED"] = "1"
        procs, crons = {}, {}
        for name, command in (meta.get("processes") or {}).items():
            if isinstance(command, str) and command.strip():
                procs[name] = Proc(name, command)
            else:
                self.log("ignoring process %r: its command is not a non-empty string" % name)
        # An environment on several hosts runs its cron entries on one of them (not this one).
        cron = {} if os.environ.get("JIB_CRON") == "0" else (meta.get("cron") or {})
        if meta.get("cron") and not cron:
            self.log("cron entries run on another host of this environment")
        for schedule, command in cron.items():
            try:
                if not isinstance(command, str):
                    raise ValueError("its command is not a string")
                crons[schedule] = Cron(schedule, command)
            except ValueError as e:
                self.log("ignoring cron entry %r: %s" % (schedule, e))
        self.release, self.env, self.cwd = str(meta["id"]), env, src
        self.procs, self.crons = procs, crons

    def spawn(self, command, log_name, header):
        try:
            out = open(self.path("log", log_name), "a")
        except OSError as e:
            self.log("cannot open log/%s: %s" % (log_name, e))
            out = None
        try:
            if out:
                out.write(header + "\n")
                out.flush()  # before the child appends to the same file
            return subprocess.Popen(
                ["/bin/sh", "-c", command], cwd=self.cwd, env=self.env,
                stdin=subprocess.DEVNULL, stdout=out or subprocess.DEVNULL,
                stderr=subprocess.STDOUT, start_new_session=True)
        except (OSError, ValueError) as e:  # ValueError: a bad name or value in the env
            self.log("cannot run %r: %s" % (command, e))
            if out:
                out.write("[jib] cannot run it: %s\n" % e)
            return None
        finally:
            if out:
                out.close()

    def supervise(self, now):
        for p in self.procs.values():
            if p.popen is not None:
                status = reap(p.popen)
                if status is None:
                    continue
                if now - p.started >= STABLE_AFTER:
                    p.delay = 1
                self.append(p.log, "[jib] %s %s; restarting in %d s"
                            % (p.name, describe(status), p.delay))
                p.popen, p.started = None, None
                p.next_start, p.delay = now + p.delay, min(p.delay * 2, BACKOFF_MAX)
            if now + 0.5 >= p.next_start:  # ticks are ~1 s apart: don't lose one to jitter
                p.starts += 1
                p.popen = self.spawn(p.command, p.log, "[jib] starting %s (release %s): %s"
                                     % (p.name, self.release, p.command))
                if p.popen is None:  # could not even start: back off as if it crashed
                    p.next_start, p.delay = now + p.delay, min(p.delay * 2, BACKOFF_MAX)
                else:
                    p.started = now

    def run_cron(self, now):
        for c in self.crons.values():
            if c.job is not None:
                status = reap(c.job)
                if status is not None:
                    c.job, c.last_status = None, status
                    self.append("cron.log", "[jib] %s %s: %s"
                                % (utc(), c.schedule, describe(status)))
        second = int(now)
        # Catch up on seconds a slow tick (e.g. a restart) skipped, once per entry, but never
        # replay a long gap (clock change).
        if self.cron_second is None or not 0 <= second - self.cron_second <= 60:
            self.cron_second = second - 1
        times = [time.localtime(s) for s in range(self.cron_second + 1, second + 1)]
        for c in self.crons.values():
            if not any(c.due(t) for t in times):
                continue
            if c.job is not None:
                self.append("cron.log", "[jib] %s skipping %s: previous run still going"
                            % (utc(), c.schedule))
                continue
            c.last_run, c.last_status = utc(), None
            c.job = self.spawn(c.command, "cron.log", "[jib] %s running %s: %s"
                               % (c.last_run, c.schedule, c.command))
        self.cron_second = second

    def stop_all(self):
        running = [(p.log, p.name, p.popen) for p in self.procs.values() if p.popen]
        running += [("cron.log", c.schedule, c.job) for c in self.crons.values() if c.job]
        if not running:
            return
        for _, _, popen in running:
            killpg(popen, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline and not all(exited(pp) for _, _, pp in running):
            time.sleep(0.1)
        for log_name, name, popen in running:
            status = finish(popen)  # SIGKILL whatever is left of the group
            self.append(log_name, "[jib] %s stopped %s: %s"
                        % (utc(), name, "no status" if status is None else describe(status)))
        for p in self.procs.values():
            p.popen, p.started = None, None
        for c in self.crons.values():
            if c.job:
                c.job, c.last_status = None, c.job.returncode

    def state(self):
        return {
            "release": self.release,
            "processes": {p.name: {"pid": p.popen.pid if p.popen else None,
                                   "started": utc(p.started) if p.started else None,
                                   "restarts": max(p.starts - 1, 0), "command": p.command}
                          for p in self.procs.values()},
            "cron": {c.schedule: {"command": c.command, "last_run": c.last_run,
                                  "last_status": c.last_status} for c in self.crons.values()},
        }

    def write_state(self):
        data = json.dumps(self.state(), indent=2, sort_keys=True) + "\n"
        if data == self.last_state:
            return
        target = self.path("run", "procs.json")
        try:
            with open(target + ".tmp", "w") as f:
                f.write(data)
            os.replace(target + ".tmp", target)
            self.last_state = data
        except OSError as e:
            self.log("cannot write run/procs.json: %s" % e)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: jib_procs.py <app dir>")
    Supervisor(os.path.abspath(sys.argv[1])).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
