"""Checks `mtlc explore --json`: every variant ran, and matches all-off."""
import json
import sys

r = json.load(open(sys.argv[1]))
names = [v["name"] for v in r["variants"]]
assert names[0] == "all off" and "all fusions" in names, names
assert any(n.startswith("no ") for n in names), names
assert "fusions forced" in names and "sched auto" in names, names
assert r["peak_gflops"] > 0, r
for v in r["variants"]:
    assert v["error"] == "", v
    assert v["ms_per_step"] > 0 and v["kernels"] > 0 and v["peak_mb"] > 0, v
    assert v["max_rel_diff"] < 1e-4, v
print("explore: ok", names)
