"""Exports torchvision classifiers with torch.onnx.export and checks Seer's import of each file against onnxruntime.

For every model and exporter setting (TorchScript exporter at opsets 13 and 17, and the dynamo exporter at opset 18):
  1. builds the torchvision model (random weights: pretrained ones cannot be downloaded here), sets its batch-norm
     statistics from a few random batches (so that activations have a trained network's scale), exports it;
  2. parity: `seer-agent predict` on a batch vs onnxruntime, as the largest |difference| over the largest |logit|
     (and onnxruntime vs PyTorch itself, so that the reference is known to be the network);
  3. complexity: `seer-agent complexity --json` MACs and parameters vs torchvision's published figures (the weights'
     metadata `_ops` in GFLOPS = GMACs and `num_params`, read from the installed package) and vs an exact count from
     PyTorch forward hooks (convolutions and linear layers);
  4. for the first setting of each model (or all, with --export-all): `seer-agent export` at 8/8 and at 6/6 with a
     quarter of the channels pruned and two fine-tuning steps, on a small random npz; onnxruntime runs the exported
     file, its logits are compared with `seer-agent predict` under the same arguments (the same compressed network in
     the engine), and `complexity` MACs with a count on the exported graph.

Usage: export_and_check.py --seer-agent PATH [--work DIR] [--models a,b] [--settings ts13,ts17,dynamo18] [--batch N]
Prints one line per step on stderr and one JSON object (all results) on stdout's last line.
"""
import argparse, json, os, time
import numpy as np
import onnx, onnxruntime as ort
import torch, torchvision
from torchvision import models as tvm

from common import cpu_name, log, seer

# name -> (constructor, weights enum whose metadata carries the published figures)
MODELS = {
    "resnet18": (tvm.resnet18, tvm.ResNet18_Weights.IMAGENET1K_V1),
    "mobilenet_v2": (tvm.mobilenet_v2, tvm.MobileNet_V2_Weights.IMAGENET1K_V1),
    "mobilenet_v3_small": (tvm.mobilenet_v3_small, tvm.MobileNet_V3_Small_Weights.IMAGENET1K_V1),
    "mobilenet_v3_large": (tvm.mobilenet_v3_large, tvm.MobileNet_V3_Large_Weights.IMAGENET1K_V1),
    "efficientnet_b0": (tvm.efficientnet_b0, tvm.EfficientNet_B0_Weights.IMAGENET1K_V1),
    "resnet50": (tvm.resnet50, tvm.ResNet50_Weights.IMAGENET1K_V1),
    "efficientnet_b1": (tvm.efficientnet_b1, tvm.EfficientNet_B1_Weights.IMAGENET1K_V1),
}
# Compressed exports checked for the first setting of each model: (policy, fine-tuning steps).
EXPORTS = [("8/8", 0), ("6/6/0.25", 2)]
# exporter setting -> (dynamo, opset, TorchScript exporter's constant folding); "unfolded" keeps batch norm as its own
# nodes and the initializers among the graph's inputs, as exports with do_constant_folding=False and
# keep_initializers_as_inputs=True look.
SETTINGS = {"ts13": (False, 13, True), "ts17": (False, 17, True), "ts18": (False, 18, True), "dynamo18": (True, 18, True),
            "ts17-unfolded": (False, 17, False)}




def relative_difference(a, reference):
    return float(np.abs(a - reference).max() / max(float(np.abs(reference).max()), 1e-6))


def images_agreeing(a, reference):
    scale = max(float(np.abs(reference).max()), 1e-6)
    return int((np.abs(a - reference).max(axis=1) <= 1e-4 * scale).sum())


def build(name, size, seed):
    torch.manual_seed(seed)
    model = MODELS[name][0](weights=None)
    # Batch-norm statistics from random batches (cumulative average), as a trained network has them; then inference.
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None
    model.train()
    with torch.no_grad():
        for _ in range(2):
            model(torch.randn(8, 3, size, size))
    return model.eval()


def exact_count(model, size):
    """MACs and parameters of the convolutions and linear layers, from forward hooks (an independent count)."""
    macs, params = 0, 0
    def hook(m, inputs, output):
        nonlocal macs, params
        if isinstance(m, torch.nn.Conv2d):
            macs += output[0].numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]
        else:
            macs += m.in_features * m.out_features
        params += sum(p.numel() for p in m.parameters())
    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    with torch.no_grad():
        model(torch.zeros(1, 3, size, size))
    for h in handles:
        h.remove()
    return macs, params


def export(model, x, path, dynamo, opset, folding=True):
    kwargs = dict(input_names=["input"], output_names=["logits"], opset_version=opset)
    if dynamo:
        batch = torch.export.Dim("batch", min=1, max=1024)
        torch.onnx.export(model, (x,), path, dynamo=True, dynamic_shapes=({0: batch},), external_data=False, **kwargs)
    else:
        torch.onnx.export(model, (x,), path, dynamo=False, dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                          do_constant_folding=folding, keep_initializers_as_inputs=not folding, **kwargs)


def onnxruntime_logits(path, x):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3  # not a warning per initializer of a file that lists them among its inputs
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def check(args, name, setting, first):
    dynamo, opset, folding = SETTINGS[setting]
    size = args.size
    work = os.path.join(args.work, f"{name}-{setting}")
    os.makedirs(work, exist_ok=True)
    path, x_path, y_path = (os.path.join(work, f) for f in ("model.onnx", "x.npy", "seer.npy"))
    result = {"model": name, "setting": setting, "exporter": "dynamo" if dynamo else "torchscript", "opset": opset,
              "input": [3, size, size]}
    weights = MODELS[name][1]
    result["published_gmacs"] = weights.meta.get("_ops")
    result["published_params"] = weights.meta.get("num_params")

    model = build(name, size, args.seed)
    result["hook_macs"], result["hook_params"] = exact_count(model, size)
    result["torch_params_all"] = sum(p.numel() for p in model.parameters())
    rng = np.random.default_rng(args.seed)
    x = rng.standard_normal((args.batch, 3, size, size)).astype(np.float32)
    np.save(x_path, x)
    t = time.time()
    try:
        export(model, torch.from_numpy(x), path, dynamo, opset, folding)
    except Exception as e:  # an exporter failure is a result, not a crash of the whole run
        result["error"] = f"torch.onnx.export: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        log(name, setting, result["error"])
        return result
    written = onnx.load(path, load_external_data=False)
    result["file_opset"] = next(o.version for o in written.opset_import if o.domain in ("", "ai.onnx"))
    result["ops"] = sorted({n.op_type for n in written.graph.node})
    reference = onnxruntime_logits(path, x)
    result["logit_scale"] = float(np.abs(reference).max())
    with torch.no_grad():
        result["onnxruntime_vs_torch"] = relative_difference(reference, model(torch.from_numpy(x)).numpy())

    try:
        seer(args.seer_agent, "predict", "--model", path, "--input", x_path, "--output", y_path, "--threads", str(args.threads))
        engine = np.load(y_path)
        result["parity"] = relative_difference(engine, reference)
        result["top1_agree"] = float((engine.argmax(1) == reference.argmax(1)).mean())
        report = json.loads(seer(args.seer_agent, "complexity", "--model", path, "--bits", "8/8", "--json"))
        result["seer_macs"], result["seer_params"] = report["macs"], report["params"]
    except RuntimeError as e:
        result["error"] = f"seer-agent: {e}"
        log(name, setting, result["error"])
        return result
    log(f"{name} {setting}: parity {result['parity']:.2e} of logit scale {result['logit_scale']:.3g}; "
        f"MACs {result['seer_macs']} (hooks {result['hook_macs']}, published {result['published_gmacs']} G); "
        f"params {result['seer_params']} (hooks {result['hook_params']}, published {result['published_params']}) "
        f"[{time.time() - t:.0f} s]")

    if first or args.export_all:
        result["exports"] = []
        for bits, steps in EXPORTS:
            try:
                outcome = export_check(args, work, path, x_path, x, bits, steps)
            except RuntimeError as e:
                outcome = {"bits": bits, "finetune_steps": steps, "error": f"seer-agent: {e}"}
            result["exports"].append(outcome)
            log(f"{name} {setting}: export {outcome}")
    return result


def calibration_data(args, work, shape):
    """A small random npz in the model's input shape (NCHW float32 like the batch); labels cover all 1000 classes
    (the class count is the largest label + 1)."""
    data = os.path.join(work, "calibration.npz")
    if os.path.exists(data):
        return data
    rng = np.random.default_rng(args.seed + 1)
    def labels(n):
        y = rng.integers(0, 1000, n)
        y[0] = 999
        return y.astype(np.int64)
    np.savez(data, x_train=rng.standard_normal((48,) + shape).astype(np.float32), y_train=labels(48),
             x_test=rng.standard_normal((8,) + shape).astype(np.float32), y_test=labels(8))
    return data


def exported_macs(path):
    """MACs of the Conv and Gemm/MatMul nodes of an exported (QDQ) graph, from onnx shape inference and the weights'
    initializer shapes (behind their DequantizeLinear): an independent count of what the pruned network computes."""
    model = onnx.shape_inference.infer_shapes(onnx.load(path))
    dims = {t.name: list(t.dims) for t in model.graph.initializer}
    producer = {o: n for n in model.graph.node for o in n.output}
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in list(model.graph.value_info) + list(model.graph.output)}
    def weight_dims(name):
        while name not in dims and name in producer:
            name = producer[name].input[0]
        return dims[name]
    macs = 0
    for n in model.graph.node:
        if n.op_type == "Conv":
            macs += int(np.prod(weight_dims(n.input[1]))) * int(np.prod(shapes[n.output[0]][2:]))
        elif n.op_type in ("Gemm", "MatMul"):
            macs += int(np.prod(weight_dims(n.input[1])))
    return macs


def export_check(args, work, path, x_path, x, bits, finetune_steps):
    """`seer-agent export` under a policy on a small random npz; onnxruntime's logits of the exported file vs the
    engine's same compressed network (`seer-agent predict` with the same arguments), and `complexity` vs the MACs of
    the exported graph."""
    data = calibration_data(args, work, x.shape[1:])
    tag = bits.replace("/", "-")
    exported, engine_path = os.path.join(work, f"export-{tag}.onnx"), os.path.join(work, f"seer-{tag}.npy")
    common = ["--bits", bits, "--finetune-steps", str(finetune_steps), "--data", data, "--data-layout", "nchw",
              "--threads", str(args.threads)]
    t = time.time()
    seer(args.seer_agent, "export", "--model", path, "--out", exported, *common)
    seconds = time.time() - t
    seer(args.seer_agent, "predict", "--model", path, "--input", x_path, "--output", engine_path, *common)
    onnx.checker.check_model(onnx.load(exported), full_check=True)
    runtime = onnxruntime_logits(exported, x)
    engine = np.load(engine_path)
    # How far onnxruntime's own logits move when the input moves by one part in a million: float noise that puts an
    # activation on the other side of a rounding boundary changes its quantized level, and a deep random-weight
    # network carries such changes to the logits. An engine-vs-onnxruntime difference of this size is that noise.
    jitter = np.random.default_rng(args.seed + 2).standard_normal(x.shape)
    jittered = onnxruntime_logits(exported, (x * (1 + 1e-6 * jitter)).astype(np.float32))
    report = json.loads(seer(args.seer_agent, "complexity", "--model", path, "--bits", bits, "--json"))
    return {"bits": bits, "finetune_steps": finetune_steps, "export_seconds": round(seconds, 1),
            "onnxruntime_vs_engine": relative_difference(runtime, engine),
            # Images whose logits agree to float noise (1e-4 of the scale): a flipped level moves one image, a wrong
            # scale or clip every image.
            "images_agreeing": images_agreeing(runtime, engine),
            "onnxruntime_vs_itself_at_1e-6_input_noise": relative_difference(jittered, runtime),
            "float_vs_compressed_engine": relative_difference(engine, np.load(os.path.join(work, "seer.npy"))),
            "top1_agree": float((runtime.argmax(1) == engine.argmax(1)).mean()), "bytes": os.path.getsize(exported),
            "seer_macs": report["macs"], "exported_graph_macs": exported_macs(exported)}



def main():
    p = argparse.ArgumentParser()
    p.add_argument("--seer-agent", required=True)
    p.add_argument("--work", default=".build-torchvision")
    p.add_argument("--models", default="resnet18,mobilenet_v2,mobilenet_v3_small,mobilenet_v3_large,efficientnet_b0")
    p.add_argument("--settings", default="ts13,ts17,ts18,dynamo18")
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--export-all", action="store_true", help="check the compressed exports for every setting, not only the first")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    results = []
    for name in args.models.split(","):
        for i, setting in enumerate(args.settings.split(",")):
            results.append(check(args, name, setting, first=(i == 0)))
    print(json.dumps({"benchmark": "torchvision-import", "cpu": cpu_name(), "torch": torch.__version__,
                      "torchvision": torchvision.__version__, "onnx": onnx.__version__, "onnxruntime": ort.__version__,
                      "size": args.size, "batch": args.batch, "results": results}, sort_keys=True))


if __name__ == "__main__":
    main()
