#!/usr/bin/env bash
# dist/grafana/imsec-dashboard.json: valid JSON in Grafana's shape, the
# data source a variable (any Prometheus the operator picks), a panel for
# every metric family of docs/OPERATIONS.md, every query valid PromQL
# (promtool checks them as recording rules once Grafana's variables are
# replaced).
set -u
. "$(dirname "$0")/../support/sh_util.sh"
: "${IMSEC_SRC:?}"
dash="$IMSEC_SRC/dist/grafana/imsec-dashboard.json"
cat >"$T_TMP/check.py" <<'PY'
import json, re, sys
d = json.load(open(sys.argv[1]))
bad = []
families = """
imsec_flows_open imsec_flows_accepted_total imsec_flows_refused_total
imsec_tls_handshakes_total imsec_tls_handshake_duration_seconds
imsec_tls_resumptions_total imsec_sip_requests_total
imsec_sip_responses_total imsec_store_requests_total
imsec_store_request_duration_seconds imsec_store_requests_in_flight
imsec_registrations_active imsec_bindings_active
imsec_register_outcomes_total imsec_auth_challenges_total
imsec_auth_failures_total imsec_lockouts_total imsec_identities_locked
imsec_trust_decisions_total imsec_transactions_active imsec_dialogs_active
imsec_route_member_up imsec_diameter_peer_up imsec_redis_up
imsec_store_queue_depth imsec_cx_requests_total
imsec_cx_request_duration_seconds process_cpu_seconds_total
process_resident_memory_bytes process_virtual_memory_bytes
process_open_fds process_max_fds process_start_time_seconds
imsec_build_info
""".split()
names = [v["name"] for v in d.get("templating", {}).get("list", [])]
if names[:1] != ["datasource"] or d["templating"]["list"][0].get("query") != "prometheus":
    bad.append("the first variable is not a Prometheus data source")
for v in ("job", "instance"):
    if v not in names:
        bad.append(f"no ${v} variable")
exprs = []
def walk(panels):
    for p in panels:
        walk(p.get("panels", []))
        if p.get("type") == "row":
            continue
        for k in ("title", "gridPos", "datasource", "targets"):
            if k not in p:
                bad.append(f"panel {p.get('id')} has no {k}")
        if p.get("datasource", {}).get("uid") != "${datasource}":
            bad.append(f"panel {p.get('title')!r}: its data source is not ${{datasource}}")
        for t in p.get("targets", []):
            e = t.get("expr", "")
            if t.get("datasource", {}).get("uid") != "${datasource}":
                bad.append(f"panel {p.get('title')!r}: a query's data source is not ${{datasource}}")
            if 'job=~"$job"' not in e or 'instance=~"$instance"' not in e:
                bad.append(f"panel {p.get('title')!r}: {e!r} ignores $job/$instance")
            exprs.append(e)
walk(d["panels"])
ids = []
def collect(panels):
    for p in panels:
        ids.append(p.get("id"))
        collect(p.get("panels", []))
collect(d["panels"])
if len(ids) != len(set(ids)):
    bad.append("panel ids repeat")
used = set(re.findall(r"\b(?:imsec|process)_[a-z0-9_]+", " ".join(exprs)))
for f in families:
    if not any(u == f or u.startswith(f + "_") for u in used):
        bad.append(f"no panel shows {f}")
with open(sys.argv[2], "w") as out:
    out.write("groups:\n- name: dashboard\n  rules:\n")
    for i, e in enumerate(exprs):
        e = e.replace("$__rate_interval", "5m").replace("$job", ".*").replace("$instance", ".*")
        out.write(f"  - record: dashboard:q{i}\n    expr: {json.dumps(e)}\n")
for b in bad:
    print("FAIL:", b)
sys.exit(1 if bad else 0)
PY
expect_exit 0 python3 "$T_TMP/check.py" "$dash" "$T_TMP/rules.yml"
[ "$T_FAIL" -eq 0 ] || cat "$T_TMP/out"
if command -v promtool >/dev/null; then
  expect_exit 0 promtool check rules "$T_TMP/rules.yml"
else
  echo "note: no promtool, queries not parsed"
fi
finish
