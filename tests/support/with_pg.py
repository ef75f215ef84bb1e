"""Run a program with a private PostgreSQL (tests/support/servers.py): its
URL in IMSEC_PG_URL, the server stopped when the program ends. A C test
that needs a database re-runs itself through this.

    python3 with_pg.py PROGRAM [ARGS...]

Exit status: the program's; 77 when PostgreSQL is not installed."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from servers import Postgres, Unavailable  # noqa: E402


def main():
    if len(sys.argv) < 2:
        print("usage: with_pg.py PROGRAM [ARGS...]", file=sys.stderr)
        return 2
    try:
        pg = Postgres()
    except Unavailable as e:
        print("skip: %s" % e, file=sys.stderr)
        return 77
    with pg:
        env = dict(os.environ, IMSEC_PG_URL=pg.url)
        try:
            return subprocess.run(sys.argv[1:], env=env, timeout=240).returncode
        except subprocess.TimeoutExpired:
            print("with_pg: %s did not finish in 240 s" % sys.argv[1],
                  file=sys.stderr)
            return 1


if __name__ == "__main__":
    sys.exit(main())
