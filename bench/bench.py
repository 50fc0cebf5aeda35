#!/usr/bin/env python3
"""bench/run's driver: darkscope against Darknet, OpenCV DNN and ONNX Runtime.

    bench.py --darkscope BIN --darknet-bench BIN --work DIR [--nets a,b] [--threads 1,2] [--quick]

For each network: one letterboxed assets/dog.jpg written once as raw CHW float32 at the
network's size (by Darknet's own letterbox_image), random weights from
`darkscope weights init CFG OUT --seed 1` (Tiny Darknet uses its real weights when present),
the ONNX model from darknet2onnx.py. Then:
  1. agreement: every engine runs the input once; top-1 must equal darkscope's (its default
     path) and the largest absolute difference of the probabilities must be below 1e-4; so
     must darkscope's other ways (VARIANTS), and the logits are compared too;
  2. timing: each engine and each of darkscope's ways in its own process, network only,
     warm-up then timed runs, in four rounds of alternating order whose times are pooled;
     the median is reported;
  3. batch throughput (Tiny Darknet, batch 8): darkscope (default and exact) against ONNX Runtime, images/s;
  4. whole process: `darkscope classify` against `darknet classify` (hyperfine), and the peak
     resident memory of each (GNU time);
  5. floors: the least time each network could take on this machine (floors.py);
  6. targets: issue 13's, each marked met or not.
Prints a Markdown table (ratios are darkscope / peer: below 1 means darkscope is faster) and
writes everything to WORK/results.json and WORK/results.md.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DARKNET_SHARE = "/usr/share/darknet"
TINY_WEIGHTS = os.environ.get("DARKSCOPE_WEIGHTS", "/work/shared/weights/tiny.weights")

# name, cfg, timed runs (pooled over the rounds), warm-up per process, Darknet's runs, Darknet's warm-up
NETS = [
    ("tiny", f"{ROOT}/cfg/tiny.cfg", 100, 5, 10, 1),
    ("darknet", f"{ROOT}/cfg/darknet.cfg", 60, 3, 6, 1),
    ("alexnet", f"{ROOT}/cfg/alexnet.cfg", 30, 2, 4, 1),
    ("extraction", f"{ROOT}/cfg/extraction.cfg", 20, 2, 2, 1),
    ("darknet19", f"{ROOT}/cfg/darknet19.cfg", 20, 2, 2, 1),
    ("resnet50", f"{DARKNET_SHARE}/cfg/resnet50.cfg", 14, 2, 2, 1),
    # AlexeyAB's dialect: Debian's Darknet cannot read it (n/a), OpenCV and ORT can.
    ("efficientnet_b0", f"{ROOT}/cfg/alexeyab/efficientnet_b0.cfg", 40, 3, 1, 0),
    ("cspdarknet53", f"{ROOT}/cfg/alexeyab/cspdarknet53.cfg", 14, 2, 1, 0),
]
# AlexeyAB's dialect, which Debian's Darknet (pjreddie's) misreads or refuses: it takes mish
# for relu and has no [scale_channels]; it is not run on these.
ALEXEYAB_NETS = {"efficientnet_b0": "no [scale_channels]", "cspdarknet53": "it reads mish as relu"}
# The networks issue 13's speed targets name.
ISSUE13_NETS = ("tiny", "darknet", "alexnet", "extraction", "darknet19", "resnet50")
ENGINES = ["darkscope", "darknet", "opencv", "onnxruntime"]
# darkscope's other ways, timed and checked as engines: (options, environment). "exact":
# Darknet's own sums, bit for bit; "avx2": the default path on the AVX2 kernels only.
VARIANTS = {"exact": (["--convolution", "darknet"], {}), "avx2": ([], {"DARKSCOPE_ISA": "avx2"})}
DARKSCOPES = ["darkscope"] + list(VARIANTS)
TOLERANCE = 1e-4
# Timing rounds per network and thread count, each engine once a round.
ROUNDS = 4


def log(text=""):
    print(text, flush=True)


class EngineFailed(Exception):
    pass


def run(command, cwd=None, fatal=True, env=None):
    result = subprocess.run(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **env} if env else None)
    if result.returncode != 0:
        if fatal:
            sys.exit(f"bench: {' '.join(command)} failed ({result.returncode}):\n{result.stderr}")
        lines = [l for l in result.stderr.splitlines() if l.strip()]
        raise EngineFailed(lines[-1] if lines else f"exit status {result.returncode}")
    return result.stdout


def machine():
    with open("/proc/cpuinfo") as f:
        fields = dict(l.split(":", 1) for l in f.read().split("\n\n")[0].splitlines() if ":" in l)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    model = fields.get("model name", "unknown")
    # The model name alone ("AMD EPYC") does not tell Zen 4 from Zen 5: family and model do.
    flags = fields.get("flags", "").split()
    widest = next((f for f in ("avx512f", "avx2") if f in flags), "no AVX2")
    cpu_id = f"family {fields.get('cpu family', '?')} model {fields.get('model', '?')}, {widest}"
    with open("/proc/loadavg") as f:
        load = f.read().split()[0]
    return {"cpu": model, "cpu_id": cpu_id, "cores": os.cpu_count(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "load_at_start": float(load)}


def versions(darkscope):
    def output(command):
        try:
            return subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout.strip()
        except OSError:
            return "unknown"
    commit = output(["git", "-C", ROOT, "describe", "--always", "--dirty"])
    return {"darkscope": f"{output([darkscope, '--version'])} ({commit})",
            "darknet": output(["dpkg-query", "-W", "-f=${Version}", "darknet"]),
            "openblas": output(["dpkg-query", "-W", "-f=${Version}", "libopenblas0-pthread"])}


def cfg_shape(cfg):
    sys.path.insert(0, HERE)
    from engines import cfg_shape as shape
    return shape(cfg)


class Bench:
    def __init__(self, args):
        self.args = args
        self.work = args.work
        os.makedirs(self.work, exist_ok=True)
        self.python = sys.executable
        self.results = {"networks": {}, "agreement": {}, "timing": [], "batch": [], "process": {},
                        "machine": machine(), "versions": versions(args.darkscope)}

    def path(self, name):
        return os.path.join(self.work, name)

    # ---- preparation -------------------------------------------------------------------
    def prepare(self, name, cfg):
        c, h, w = cfg_shape(cfg)
        input_path = self.path(f"dog-{w}x{h}.f32")
        if not os.path.exists(input_path):
            run([self.args.darknet_bench, "input", f"{ROOT}/assets/dog.jpg", str(w), str(h), input_path])
        if name == "tiny" and os.path.exists(TINY_WEIGHTS):
            weights, kind = TINY_WEIGHTS, "real (tiny.weights)"
        else:
            weights, kind = self.path(f"{name}.weights"), "random (weights init --seed 1)"
            if os.path.exists(weights):
                os.remove(weights)
            run([self.args.darkscope, "weights", "init", cfg, weights, "--seed", "1"])
        model = self.path(f"{name}.onnx")
        run([self.python, f"{HERE}/darknet2onnx.py", cfg, weights, model])
        sys.path.insert(0, HERE)
        from darknet2onnx import read_cfg
        layers = [kind for kind, _, _ in read_cfg(cfg)[1:]]
        last = max(i for i, kind in enumerate(layers) if kind != "cost")
        logits_layer, logits_model = None, None
        if layers[last] in ("softmax", "soft") and last > 0:
            logits_layer, logits_model = last - 1, self.path(f"{name}-logits.onnx")
            run([self.python, f"{HERE}/darknet2onnx.py", "--logits", cfg, weights, logits_model])
        gflops = json.loads(run([self.args.darkscope, "benchmark", cfg, weights, "--input", input_path,
                                 "--runs", "1", "--warmup", "0", "--json"]))["gflops"]
        info = {"cfg": cfg, "weights": weights, "weights_kind": kind, "input": input_path, "onnx": model,
                "size": f"{w}x{h}x{c}", "gflops": gflops, "logits_layer": logits_layer, "logits_onnx": logits_model}
        self.results["networks"][name] = info
        return info

    # ---- one engine, one process -------------------------------------------------------
    def engine(self, engine, net, threads, warmup, runs, batch=1, tag="t", logits=False):
        """Runs one engine in its own process: (times in ms, image 0's output, or with
        logits=True the input of the final softmax)."""
        out = self.path(f"out-{net['name']}-{engine}-{tag}.f32")
        if engine in DARKSCOPES:
            options, env = VARIANTS.get(engine, ([], {}))
            command = [self.args.darkscope, "benchmark", net["cfg"], net["weights"], "--input", net["input"],
                       "--threads", str(threads), "--warmup", str(warmup), "--runs", str(runs),
                       "--batch", str(batch), "--output", out, "--json"] + options
            if logits:
                command += ["--output-layer", str(net["logits_layer"])]
            report = json.loads(run(command, fatal=engine == "darkscope", env=env))
            times = report["timesMs"]
            self.results["machine"]["openblas_core"] = report["blasCore"]
        elif engine == "darknet":
            command = [self.args.darknet_bench, "time", net["cfg"], net["weights"], net["input"],
                       str(warmup), str(runs), out] + ([str(net["logits_layer"])] if logits else [])
            times = json.loads(run(command, cwd=DARKNET_SHARE, fatal=False))["times_ms"]
        elif engine == "opencv":
            command = [self.python, f"{HERE}/engines.py", "opencv", net["cfg"], net["weights"], net["input"],
                       str(threads), str(warmup), str(runs), out, str(batch)]
            report = json.loads(run(command, fatal=False))
            times = report["times_ms"]
            self.results["versions"]["opencv"] = report["version"]
        else:
            command = [self.python, f"{HERE}/engines.py", "onnxruntime", net["logits_onnx" if logits else "onnx"], net["input"],
                       str(threads), str(warmup), str(runs), out, str(batch)]
            report = json.loads(run(command, fatal=False))
            times = report["times_ms"]
            self.results["versions"]["onnxruntime"] = report["version"]
        return times, np.fromfile(out, dtype="<f4")

    # ---- 1. agreement ------------------------------------------------------------------
    def agree(self, nets):
        log("## Agreement (one pass each, 1 thread; reference: darkscope)")
        ok = True
        for net in nets:
            outputs = {}
            for e in ENGINES + list(VARIANTS):
                if e == "darknet" and net["name"] in ALEXEYAB_NETS:
                    outputs[e] = f"pjreddie's Darknet does not read AlexeyAB's dialect ({ALEXEYAB_NETS[net['name']]})"
                    continue
                try:
                    outputs[e] = self.engine(e, net, 1, 0, 1, tag="check")[1]
                except EngineFailed as failure:
                    outputs[e] = str(failure)
            reference = outputs["darkscope"]
            top = int(reference.argmax())
            parts, record = [], {"top1": top, "top1_probability": float(reference[top])}
            for engine in ENGINES[1:] + list(VARIANTS):
                other = outputs[engine]
                if isinstance(other, str):
                    parts.append(f"{engine} cannot run it ({other[:160]})")
                    record[engine] = {"error": other}
                    net.setdefault("failed", {})[engine] = other
                    continue
                if other.shape != reference.shape:
                    parts.append(f"{engine}: {other.size} outputs, not {reference.size}")
                    record[engine] = {"error": "shape"}
                    ok = False
                    continue
                diff = float(np.abs(other - reference).max())
                same = int(other.argmax()) == top
                good = same and diff < TOLERANCE
                ok &= good
                record[engine] = {"top1": int(other.argmax()), "max_abs_diff": diff, "agrees": good}
                parts.append(f"{engine} top-1 {int(other.argmax())} max|Δp| {diff:.2e}{'' if good else '  <-- DISAGREES'}")
            self.results["agreement"][net["name"]] = record
            log(f"{net['name']:>10}: darkscope top-1 {top} (p={reference[top]:.4f}); " + "; ".join(parts))
            if net["logits_layer"] is not None:
                # The probabilities alone say little when the softmax saturates (random weights):
                # compare its input too, relative to the largest logit.
                zs = {}
                for e in ("darkscope", "darknet", "onnxruntime", "exact"):
                    if e in net.get("failed", {}):
                        continue
                    try:
                        zs[e] = self.engine(e, net, 1, 0, 1, tag="logits", logits=True)[1]
                    except EngineFailed as failure:
                        zs[e] = str(failure)
                z = zs["darkscope"]
                scale = float(np.abs(z).max()) or 1.0
                parts = []
                for e, other in zs.items():
                    if e == "darkscope":
                        continue
                    if isinstance(other, str) or other.shape != z.shape:
                        parts.append(f"{e} failed")
                        ok = False
                        continue
                    rel = float(np.abs(other - z).max()) / scale
                    good = rel < TOLERANCE
                    ok &= good
                    record[e]["logits_max_rel_diff"] = rel
                    parts.append(f"{e} {rel:.2e}{'' if good else '  <-- DISAGREES'}")
                log(f"{'':>10}  logits (layer {net['logits_layer']}, max|z| {scale:.3g}): max|Δz|/max|z|: " + "; ".join(parts))
        log()
        return ok

    # ---- 2. timing ---------------------------------------------------------------------
    def time_all(self, nets, thread_counts):
        log(f"## Timing (network only, median ms; {ROUNDS} rounds pooled)")
        darknet_times = {}
        for threads in thread_counts:
            for net in nets:
                engines = DARKSCOPES + ["onnxruntime", "opencv"] + (["darknet"] if net["name"] not in darknet_times else [])
                engines = [e for e in engines if e not in net.get("failed", {})]
                pooled = {e: [] for e in engines}
                # Rounds in alternating order, so that a slow spell of the shared machine
                # falls on every engine rather than on one.
                for round_engines in [engines, list(reversed(engines))] * (ROUNDS // 2):
                    for engine in round_engines:
                        dark = engine == "darknet"
                        runs = max(1, (net["darknet_runs"] if dark else net["runs"]) // ROUNDS)
                        warmup = net["darknet_warmup"] if dark else net["warmup"]
                        times, output = self.engine(engine, net, threads, warmup, runs, tag=f"{threads}")
                        pooled[engine] += times
                if "darknet" in pooled:
                    darknet_times[net["name"]] = pooled.pop("darknet")
                row = {"network": net["name"], "threads": threads}
                for engine in ENGINES + list(VARIANTS):
                    times = darknet_times.get(net["name"]) if engine == "darknet" else pooled.get(engine)
                    if times:
                        row[engine] = {"median_ms": float(np.median(times)), "min_ms": float(np.min(times)), "runs": len(times)}
                    else:
                        row[engine] = None
                self.results["timing"].append(row)
                log(f"{net['name']:>10} x{threads}: " + ", ".join(
                    f"{e} {row[e]['median_ms']:.2f}" if row[e] else f"{e} n/a" for e in ENGINES + list(VARIANTS)))
        log()

    # ---- 3. batch ----------------------------------------------------------------------
    def batch(self, net, thread_counts, size=8, runs=10):
        log(f"## Batch throughput ({net['name']}, batch {size})")
        for threads in thread_counts:
            row = {"network": net["name"], "threads": threads, "batch": size}
            for engine in ("darkscope", "exact", "onnxruntime"):
                times = []
                for _ in range(2):
                    times += self.engine(engine, net, threads, 2, runs // 2, batch=size, tag=f"b{threads}")[0]
                row[engine] = {"median_ms": float(np.median(times)), "images_per_s": size * 1000 / float(np.median(times))}
            self.results["batch"].append(row)
            log(f"{net['name']:>10} x{threads}: " + ", ".join(
                f"{e} {row[e]['images_per_s']:.1f} img/s" for e in ("darkscope", "exact", "onnxruntime")))
        log()

    # ---- 3b. training -------------------------------------------------------------------
    def training(self, thread_counts, quick):
        """Images per second trained (forward, backward, update of one batch), darkscope's
        Trainer against libdarknet's train_network, both from the same weights and input."""
        log("## Training (one batch per step: forward, backward, SGD update)")
        self.results["training"] = []
        # Tiny Darknet at 224 x 224 with its batch cut to 8 (128 would take Darknet a minute a
        # step), and the digits demonstration's small cfg as it is.
        tiny = self.path("tiny-train.cfg")
        with open(f"{ROOT}/cfg/tiny.cfg") as f:
            text = f.read()
        with open(tiny, "w") as f:
            f.write(text.replace("[net]", "[net]\nbatch=8\nsubdivisions=1", 1))
        # Steps timed (darkscope's, Darknet's): digits' take milliseconds, so enough of them to
        # span a second or more, past the noise of a shared host.
        nets = [("tiny", tiny, 2 if quick else 6, 1 if quick else 3), ("digits", f"{ROOT}/scripts/digits.cfg", 20 if quick else 300, 5 if quick else 20)]
        for name, cfg, runs, darknet_runs in nets:
            c, h, w = cfg_shape(cfg)
            input_path = self.path(f"dog-{w}x{h}.f32")
            if not os.path.exists(input_path):
                run([self.args.darknet_bench, "input", f"{ROOT}/assets/dog.jpg", str(w), str(h), input_path])
            weights = self.path(f"{name}-train.weights")
            if os.path.exists(weights):
                os.remove(weights)
            run([self.args.darkscope, "weights", "init", cfg, weights, "--seed", "1"])
            darknet = json.loads(run([self.args.darknet_bench, "train", cfg, weights, input_path, "1", str(darknet_runs)],
                                     cwd=DARKNET_SHARE))
            batch = darknet["batch"]
            darknet_rate = batch * 1000 / float(np.median(darknet["times_ms"]))
            for threads in thread_counts:
                report = json.loads(run([self.args.darkscope, "benchmark", cfg, weights, "--input", input_path, "--train",
                                         "--threads", str(threads), "--warmup", "2", "--runs", str(runs), "--json"]))
                ours = report["imagesPerSecond"]
                row = {"network": name, "threads": threads, "batch": batch, "darkscope_images_per_s": ours,
                       "darknet_images_per_s": darknet_rate, "speedup": ours / darknet_rate}
                self.results["training"].append(row)
                log(f"{name:>10} x{threads}: darkscope {ours:.1f} img/s, darknet {darknet_rate:.1f} img/s (1 thread): {ours / darknet_rate:.1f}x")
        log()

    # ---- 4. whole process --------------------------------------------------------------
    def process(self):
        if not os.path.exists(TINY_WEIGHTS):
            log(f"## Whole process: skipped, no {TINY_WEIGHTS}\n")
            return
        log("## Whole process: classify cfg/tiny.cfg tiny.weights dog.jpg")
        cfg, image = f"{ROOT}/cfg/tiny.cfg", f"{ROOT}/assets/dog.jpg"
        commands = {
            "darkscope": [self.args.darkscope, "classify", cfg, TINY_WEIGHTS, image],
            "exact": [self.args.darkscope, "classify", "--convolution", "darknet", cfg, TINY_WEIGHTS, image],
            "darknet": ["/usr/bin/darknet", "classify", cfg, TINY_WEIGHTS, image],
        }
        record = {}
        if shutil.which("hyperfine"):
            exported = self.path("hyperfine.json")
            run(["hyperfine", "-N", "--warmup", "3", "--runs", "20", "--export-json", exported]
                + [" ".join(c) for c in commands.values()], cwd=DARKNET_SHARE)
            with open(exported) as f:
                for name, result in zip(commands, json.load(f)["results"]):
                    record[name] = {"median_ms": result["median"] * 1e3, "min_ms": result["min"] * 1e3, "tool": "hyperfine"}
        else:
            for name, command in commands.items():
                times = []
                for i in range(23):
                    start = time.perf_counter()
                    subprocess.run(command, cwd=DARKNET_SHARE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
                    if i >= 3:
                        times.append((time.perf_counter() - start) * 1e3)
                record[name] = {"median_ms": float(np.median(times)), "min_ms": float(np.min(times)), "tool": "loop"}
        for name, command in commands.items():
            result = subprocess.run(["/usr/bin/time", "-v"] + command, cwd=DARKNET_SHARE,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=True)
            line = next(l for l in result.stderr.splitlines() if "Maximum resident set size" in l)
            record[name]["peak_rss_mb"] = int(line.split(":")[1]) / 1024
        self.results["process"] = record
        for name in commands:
            log(f"{name:>10}: median {record[name]['median_ms']:.1f} ms wall, peak RSS {record[name]['peak_rss_mb']:.1f} MB")
        for name in ("darkscope", "exact"):
            ratio = record[name]["median_ms"] / record["darknet"]["median_ms"]
            log(f"{name} / darknet = {ratio:.3f} (darknet {1 / ratio:.2f}x slower)")
        log()

    # ---- 5. floors ---------------------------------------------------------------------
    def floors(self, nets, thread_counts):
        sys.path.insert(0, HERE)
        import floors
        ceilings = floors.ceilings(self.work)
        self.results["ceilings"] = {str(t): {"gflops": g, "gbytes_per_s": b} for t, (g, b) in ceilings.items()}
        for row in self.results["timing"]:
            if row["threads"] in ceilings and row["network"] in ISSUE13_NETS:
                net = self.results["networks"][row["network"]]
                row["floor_ms"] = floors.floor_ms(self.args.darkscope, net["cfg"], ceilings[row["threads"]])

    # ---- report ------------------------------------------------------------------------
    def table(self):
        m, v = self.results["machine"], self.results["versions"]
        lines = [f"Machine: {m['cpu']} ({m['cpu_id']}; {m.get('openblas_core', '?')} to OpenBLAS), {m['cores']} cores; "
                 f"{m['date']}; load average {m['load_at_start']:.2f} at start.",
                 f"darkscope {v['darkscope']}, Darknet {v['darknet']} (Debian), OpenCV {v.get('opencv', '?')} (Debian), "
                 f"ONNX Runtime {v.get('onnxruntime', '?')} (PyPI), OpenBLAS {v['openblas']} (Debian).", "",
                 "| network | GFLOP | threads | darkscope ms | Darknet ms | OpenCV ms | ORT ms | ÷Darknet | ÷OpenCV | ÷ORT "
                 "| ÷floor | exact ms | exact ÷ORT | AVX2 ms | AVX2 ÷ORT |",
                 "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for row in self.results["timing"]:
            net = self.results["networks"][row["network"]]
            ds = row["darkscope"]["median_ms"]
            cells = [row["network"], f"{net['gflops']:.2f}", str(row["threads"]), f"{ds:.2f}"]
            cells += [(f"{row[e]['median_ms']:.2f}" + ("¹" if e == "darknet" and row["threads"] > 1 else "")) if row[e] else "n/a²"
                      for e in ("darknet", "opencv", "onnxruntime")]
            cells += [ratio(ds, row[e]) for e in ("darknet", "opencv", "onnxruntime")]
            cells.append(f"{ds / row['floor_ms']:.2f}" if row.get("floor_ms") else "–")
            for variant in VARIANTS:
                cells += [f"{row[variant]['median_ms']:.2f}" if row[variant] else "n/a",
                          ratio(row[variant]["median_ms"], row["onnxruntime"]) if row[variant] else "–"]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
        lines.append("Ratios are darkscope ÷ peer (below 1: darkscope faster). ¹ Darknet is single-threaded: its 1-thread time. "
                     "darkscope: the default path (Winograd's convolutions where they apply); exact: `--convolution darknet`, "
                     "Darknet's sums bit for bit; AVX2: the default path with `DARKSCOPE_ISA=avx2`; ÷floor: the default "
                     "against the floor below.")
        agreement = self.results["agreement"]
        lines += ["", "| default's error | against | same top-1 | max abs Δp | logits max abs Δz ÷ max abs z |",
                  "|---|---|---|---:|---:|"]
        for name, record in agreement.items():
            for peer in ("darknet", "exact"):
                e = record.get(peer)
                if not e or "error" in e:
                    continue
                rel = f"{e['logits_max_rel_diff']:.2e}" if "logits_max_rel_diff" in e else "–"
                lines.append(f"| {name} | {peer} | {'yes' if e['top1'] == record['top1'] else 'no'} | "
                             f"{e['max_abs_diff']:.2e} | {rel} |")
        failures = {(name, e): why for name, net in self.results["networks"].items() for e, why in net.get("failed", {}).items()}
        for (name, engine), why in failures.items():
            lines.append(f"² {engine} cannot run {name}: {why[:200]}")
        if self.results["batch"]:
            lines += ["", "| batch | network | threads | darkscope img/s | exact img/s | ORT img/s | ÷ORT (time) | exact ÷ORT |",
                      "|---:|---|---:|---:|---:|---:|---:|---:|"]
            for row in self.results["batch"]:
                ort = row["onnxruntime"]["median_ms"]
                lines.append(f"| {row['batch']} | {row['network']} | {row['threads']} | {row['darkscope']['images_per_s']:.1f} | "
                             f"{row['exact']['images_per_s']:.1f} | {row['onnxruntime']['images_per_s']:.1f} | "
                             f"{row['darkscope']['median_ms'] / ort:.2f} | {row['exact']['median_ms'] / ort:.2f} |")
        if self.results.get("training"):
            lines += ["", "| training (batch per step) | threads | batch | darkscope img/s | Darknet img/s (1 thread) | ×Darknet (issue 14: ≥ 10) |",
                      "|---|---:|---:|---:|---:|---:|"]
            for row in self.results["training"]:
                lines.append(f"| {row['network']} | {row['threads']} | {row['batch']} | {row['darkscope_images_per_s']:.1f} | "
                             f"{row['darknet_images_per_s']:.1f} | {row['speedup']:.1f} |")
        rows = [row for row in self.results["timing"] if "floor_ms" in row]
        if rows:
            ceilings = "; ".join(f"{t} thread(s) {c['gflops']:.0f} GFLOP/s, {c['gbytes_per_s']:.1f} GB/s"
                                 for t, c in sorted(self.results["ceilings"].items()))
            lines += ["", f"Floors (bench/floors.py; this machine's ceilings, measured by bench/peak.c: {ceilings}):", "",
                      "| network | threads | floor ms | darkscope ms | ÷floor |", "|---|---:|---:|---:|---:|"]
            for row in rows:
                ds = row["darkscope"]["median_ms"]
                lines.append(f"| {row['network']} | {row['threads']} | {row['floor_ms']:.1f} | {ds:.1f} | {ds / row['floor_ms']:.2f} |")
            # A shared host can take a core from the VM for a while: peak.c then finds two
            # threads no faster than one, and every two-thread row of the run is in doubt.
            one, two = self.results["ceilings"].get("1"), self.results["ceilings"].get("2")
            if one and two and two["gflops"] < 1.6 * one["gflops"]:
                lines += ["", f"**The VM lacked a core for part of this run**: peak.c multiply-added {two['gflops']:.0f} GFLOP/s on "
                              f"two threads against {one['gflops']:.0f} on one, so its two-thread rows are in doubt."]
        process = self.results["process"]
        if process:
            lines += ["", "| whole process (`classify` tiny, dog.jpg) | median ms | peak RSS MB | ÷ darknet |", "|---|---:|---:|---:|"]
            for name in ("darkscope", "exact", "darknet"):
                lines.append(f"| {name} | {process[name]['median_ms']:.1f} | {process[name]['peak_rss_mb']:.1f} | "
                             f"{process[name]['median_ms'] / process['darknet']['median_ms']:.3f} |")
        lines += ["", "| issue 13's target | met | figures |", "|---|---|---|"]
        lines += [f"| {name} | {'yes' if met else '**no**'} | {figures} |" for name, met, figures in self.targets()]
        return "\n".join(lines)

    def targets(self):
        """Issue 13's targets: (what, met, the figures), for the rows this run has."""
        timing, found = self.results["timing"], []

        def check(name, values, bound):
            values = [(label, x) for label, x in values if x is not None]
            if values:
                worst = max(x for _, x in values)
                found.append((name, worst <= bound, f"worst {worst:.2f} (bound {bound:.3g}): " +
                              ", ".join(f"{label} {x:.2f}" for label, x in values)))

        def over(row, engine, peer):
            return row[engine]["median_ms"] / row[peer]["median_ms"] if row.get(engine) and row.get(peer) else None

        named = [r for r in timing if r["network"] in ISSUE13_NETS]
        check("default ÷ORT ≤ 0.8, every network, 1 and 2 threads",
              [(f"{r['network']}×{r['threads']}", over(r, "darkscope", "onnxruntime")) for r in named], 0.8)
        check("AVX2 ÷ORT ≤ 1.3, every network, 1 and 2 threads",
              [(f"{r['network']}×{r['threads']}", over(r, "avx2", "onnxruntime")) for r in named], 1.3)
        check("default ÷floor ≤ 2.5: tiny, darknet19, extraction on 1 thread",
              [(r["network"], r["darkscope"]["median_ms"] / r["floor_ms"]) for r in timing
               if r["threads"] == 1 and r["network"] in ("tiny", "darknet19", "extraction") and r.get("floor_ms")], 2.5)
        check("batch 8: ORT's time ÷ darkscope's ≥ 1.2 (shown as darkscope ÷ORT ≤ 0.83)",
              [(f"×{r['threads']}", r["darkscope"]["median_ms"] / r["onnxruntime"]["median_ms"]) for r in self.results["batch"]],
              1 / 1.2)
        process = self.results["process"]
        if process:
            check("whole classify ≥ 8× faster than darknet classify (÷darknet ≤ 0.125)",
                  [("tiny", process["darkscope"]["median_ms"] / process["darknet"]["median_ms"])], 0.125)
        return found


def ratio(ours, peer):
    return f"{ours / peer['median_ms']:.2f}" if peer else "–"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--darkscope", required=True)
    parser.add_argument("--darknet-bench", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--nets", default=",".join(n[0] for n in NETS))
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--quick", action="store_true", help="a fifth of the runs (a smoke test)")
    parser.add_argument("--skip-training", action="store_true", help="leave out the training benchmark")
    args = parser.parse_args()
    bench = Bench(args)
    wanted = args.nets.split(",")
    thread_counts = [int(t) for t in args.threads.split(",")]
    started = time.time()

    nets = []
    for name, cfg, runs, warmup, dn_runs, dn_warmup in NETS:
        if name not in wanted:
            continue
        info = bench.prepare(name, cfg)
        if args.quick:
            runs, dn_runs, warmup = max(2, runs // 5), 2, 1
        info.update(name=name, runs=runs, warmup=warmup, darknet_runs=dn_runs, darknet_warmup=dn_warmup)
        nets.append(info)
        log(f"prepared {name}: {info['size']}, {info['gflops']:.2f} GFLOP, weights {info['weights_kind']}")
    log()

    m = bench.results["machine"]
    log(f"machine: {m['cpu']}, {m['cores']} cores, load {m['load_at_start']:.2f} at start"
        + ("  (busy: expect noise; only ratios from one run count)" if m["load_at_start"] > 0.5 else ""))
    agreed = bench.agree(nets)
    bench.time_all(nets, thread_counts)
    if any(n["name"] == "tiny" for n in nets):
        bench.batch(next(n for n in nets if n["name"] == "tiny"), thread_counts, runs=4 if args.quick else 10)
    if not args.skip_training:
        bench.training(thread_counts, args.quick)
    bench.process()
    bench.floors(nets, thread_counts)

    table = bench.table()
    bench.results["seconds"] = time.time() - started
    with open("/proc/loadavg") as f:
        bench.results["machine"]["load_at_end"] = float(f.read().split()[0])
    bench.results["agreed"] = agreed
    with open(bench.path("results.json"), "w") as f:
        json.dump(bench.results, f, indent=1)
    with open(bench.path("results.md"), "w") as f:
        f.write(table + "\n")
    log(table)
    log(f"\n(bench took {bench.results['seconds']:.0f} s; results in {bench.path('results.json')})")
    if not agreed:
        sys.exit("bench: the engines disagree (see Agreement above); the timings compare different computations")


if __name__ == "__main__":
    main()
