"""A trial stand-in for tests/test_warm_start.py."""
import os
import sys
import time


def main():
    print(f"mark={os.environ.get('MARK')} argv={sys.argv[1:]} cwd={os.getcwd()} ppid={os.getppid()}", flush=True)
    if os.environ.get("PID_FILE"):
        with open(os.environ["PID_FILE"], "w") as f:
            f.write(str(os.getpid()))
        time.sleep(60)
    print("to stderr", file=sys.stderr, flush=True)
    return int(os.environ.get("EXIT", "0"))
