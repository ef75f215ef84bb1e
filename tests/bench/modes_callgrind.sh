#!/usr/bin/env bash
# Instructions per handshake of the server's loop thread, per deployment
# mode: bench_modes under callgrind (valgrind), one run per mode. Counts
# instructions, not seconds, so the figure does not move with the load of
# the shared machine (docs/BENCHMARKS.md).
#
#   tests/bench/modes_callgrind.sh BENCH_MODES [MODES...]
#
# Each run is `bench_modes -n 80 -r 1 --only m1,MODE` (20 warm-up plus 80
# handshakes of each mode listed); the loop thread is callgrind's thread 2.
# M1 alone runs twice (-n 20 and -n 80): the slope is M1's count per
# handshake and the intercept the start-up; a mode's count is then
# (its run's total - start-up) / 100 - M1's. About a minute per mode.
set -euo pipefail
bin=$(realpath "${1:?usage: modes_callgrind.sh BENCH_MODES [MODES...]}")
shift
modes=("$@")
[ ${#modes[@]} -gt 0 ] || modes=(m1-res m2a m3 m3-12 m3-aka m3-ctx m3-nt dtls)
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 2; }
work=$(mktemp -d "${TMPDIR:-/tmp}/modes_cg.XXXXXX")
trap 'rm -rf "$work"' EXIT

# total instructions of the loop thread for one run
count() {
  local dir="$work/$1"
  mkdir -p "$dir"
  (cd "$dir" && timeout 900 valgrind --tool=callgrind --separate-threads=yes \
     "$bin" -n "$2" -r 1 --only "$3" >out.txt 2>err.txt)
  grep -h '^totals:' "$dir"/callgrind.out.*-02 | awk '{print $2}'
}

m1_20=$(count m1-20 20 m1)
m1_80=$(count m1-80 80 m1)
echo "mode instructions_per_handshake x_m1"
python3 - "$m1_20" "$m1_80" <<'EOF'
import sys
t20, t80 = int(sys.argv[1]), int(sys.argv[2])
i1 = (t80 - t20) / 60
print("m1 %.3fM 1.00 (start-up %.2fM)" % (i1 / 1e6, (t20 - 40 * i1) / 1e6))
EOF
for m in "${modes[@]}"; do
  t=$(count "$m" 80 "m1,$m")
  python3 - "$m1_20" "$m1_80" "$t" "$m" <<'EOF'
import sys
t20, t80, t, m = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
i1 = (t80 - t20) / 60
base = t20 - 40 * i1
i = (t - base) / 100 - i1
print("%s %.3fM %.2f" % (m, i / 1e6, i / i1))
EOF
done
