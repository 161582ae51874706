"""Trains torchvision classifiers in PyTorch, exports them with torch.onnx.export, and has Seer compress, fine-tune and
export them back as QDQ ONNX; checks that onnxruntime runs each exported file at the engine's accuracy.

export_and_check.py checks import parity on random-weight networks, whose logits carry every flipped rounding level to
the output; this script asks the question a user has: a network that has learned something, compressed by Seer, run
by onnxruntime, classifies the test images as Seer's engine does. For every model:
  1. data: a Fashion-MNIST subset (the IDX files Debian ships) resized to SIZE x SIZE and repeated over 3 channels,
     written as a Keras-style npz (uint8, NHWC), and the same test images normalized as float32 NCHW (.npy);
  2. PyTorch: the torchvision architecture with 10 classes, trained from scratch for --epochs on the npz's training
     images (Adam, with the same normalization), exported with the TorchScript exporter at opset 13;
  3. Seer: `seer-agent predict` of the float import (accuracy and agreement with onnxruntime on the original file);
     then for each policy `seer-agent export --save-weights` (compression, calibration and fine-tuning on the npz), and
     `seer-agent predict --weights` (the same compressed network in the engine) on the test images;
  4. onnxruntime runs the exported QDQ file (`onnx.checker` full check first) on the same test images: its accuracy,
     the engine's, the fraction of images whose top-1 agrees, and the largest logit difference over the logit scale.

Usage: train_compress_export.py --seer-agent PATH [--work DIR] [--models a,b] [--size 48] [--train 2000] [--test 1000]
Prints one line per step on stderr and one JSON object (all results) on stdout's last line.
"""
import argparse, gzip, json, os, time
import numpy as np
import onnx, onnxruntime as ort
import torch, torchvision
import torch.nn.functional as F
from torchvision import models as tvm

from common import cpu_name, log, seer

MODELS = {
    "resnet18": tvm.resnet18,
    "mobilenet_v2": tvm.mobilenet_v2,
    "mobilenet_v3_small": tvm.mobilenet_v3_small,
    "efficientnet_b0": tvm.efficientnet_b0,
}
# (policy, Seer fine-tuning steps): 8/8 as calibrated post-training quantization; 6/6 with quantization-aware
# fine-tuning; and 6/6 with a quarter of every prunable layer's channels removed, which needs fine-tuning to recover.
POLICIES = [("8/8", 0), ("6/6", 60), ("6/6/0.25", 60)]
# Fashion-MNIST's pixel statistics (byte / 255), the same for the three repeated channels.
MEAN, STD = 0.2860, 0.3530




def idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


def resized(images, size):
    """uint8 [N, 28, 28] -> uint8 [N, size, size, 3] (bilinear, as PyTorch's interpolate)."""
    x = torch.from_numpy(images.astype(np.float32)).unsqueeze(1)
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    x = x.round().clamp(0, 255).to(torch.uint8).squeeze(1).numpy()
    return np.repeat(x[..., None], 3, axis=3)


def make_data(args):
    """The npz Seer trains on and the normalized NCHW test images both frameworks classify."""
    os.makedirs(args.work, exist_ok=True)
    npz = os.path.join(args.work, f"fashion-{args.size}-{args.train}-{args.test}.npz")
    root = args.fashion_mnist
    rng = np.random.default_rng(args.seed)
    train_x, train_y = idx(f"{root}/train-images-idx3-ubyte.gz"), idx(f"{root}/train-labels-idx1-ubyte.gz")
    test_x, test_y = idx(f"{root}/t10k-images-idx3-ubyte.gz"), idx(f"{root}/t10k-labels-idx1-ubyte.gz")
    tr = rng.choice(len(train_x), args.train, replace=False)
    te = rng.choice(len(test_x), args.test, replace=False)
    data = dict(x_train=resized(train_x[tr], args.size), y_train=train_y[tr].astype(np.int64),
                x_test=resized(test_x[te], args.size), y_test=test_y[te].astype(np.int64))
    if not os.path.exists(npz):
        np.savez(npz, **data)
    test_images = normalized(data["x_test"])
    test_path = os.path.join(args.work, "test-images.npy")
    np.save(test_path, test_images)
    return npz, data, test_images, test_path


def normalized(x_nhwc):
    return ((x_nhwc.astype(np.float32) / 255 - MEAN) / STD).transpose(0, 3, 1, 2).copy()


def train(name, data, args):
    torch.manual_seed(args.seed)
    model = MODELS[name](weights=None, num_classes=10)
    x = torch.from_numpy(normalized(data["x_train"]))
    y = torch.from_numpy(data["y_train"])
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    steps = args.epochs * (len(x) // args.batch)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, total_steps=steps)
    model.train()
    g = torch.Generator().manual_seed(args.seed)
    step, t = 0, time.time()
    for epoch in range(args.epochs):
        order = torch.randperm(len(x), generator=g)
        for b in range(len(x) // args.batch):
            i = order[b * args.batch:(b + 1) * args.batch]
            loss = F.cross_entropy(model(x[i]), y[i])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            step += 1
        log(f"{name}: epoch {epoch + 1}/{args.epochs}, loss {loss.item():.3f} [{time.time() - t:.0f} s]")
    # MobileNetV3 and EfficientNet keep batch-norm statistics with momentum 0.01: after a short training they are still
    # mostly their initial values, and the network in inference mode is at chance. Recomputed over the training images
    # (a cumulative average), as a longer training would have them.
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None
    with torch.no_grad():
        for b in range(0, min(len(x), 1024), args.batch):
            model(x[b:b + args.batch])
    return model.eval(), time.time() - t


def onnxruntime_logits(path, x):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    return np.concatenate([session.run(None, {session.get_inputs()[0].name: x[i:i + 100]})[0]
                           for i in range(0, len(x), 100)])


def accuracy(logits, labels):
    return float((logits.argmax(1) == labels).mean() * 100)


def compare(engine, runtime, labels):
    return {"engine_accuracy": accuracy(engine, labels), "onnxruntime_accuracy": accuracy(runtime, labels),
            "top1_agree": float((engine.argmax(1) == runtime.argmax(1)).mean()),
            "max_logit_difference_of_scale": float(np.abs(engine - runtime).max() / max(np.abs(runtime).max(), 1e-6))}


def check(name, args, npz, data, test_images, test_path):
    work = os.path.join(args.work, name)
    os.makedirs(work, exist_ok=True)
    labels = data["y_test"]
    model, train_seconds = train(name, data, args)
    path = os.path.join(work, "model.onnx")
    with torch.no_grad():
        torch_logits = torch.cat([model(torch.from_numpy(test_images[i:i + 100])) for i in range(0, len(test_images), 100)]).numpy()
    torch.onnx.export(model, (torch.from_numpy(test_images[:1]),), path, dynamo=False, opset_version=13,
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    result = {"model": name, "train_seconds": round(train_seconds, 1), "torch_accuracy": accuracy(torch_logits, labels)}
    common = ["--data", npz, "--data-mean", f"{MEAN},{MEAN},{MEAN}", "--data-std", f"{STD},{STD},{STD}",
              "--threads", str(args.threads)]
    float_engine = os.path.join(work, "float-engine.npy")
    seer(args.seer_agent, "predict", "--model", path, "--input", test_path, "--output", float_engine, *common)
    result["float"] = compare(np.load(float_engine), onnxruntime_logits(path, test_images), labels)
    log(f"{name}: trained in {train_seconds:.0f} s, PyTorch {result['torch_accuracy']:.1f}%; float import {result['float']}")
    result["exports"] = []
    for bits, steps in POLICIES:
        tag = bits.replace("/", "-")
        exported, weights, engine_path = (os.path.join(work, f) for f in (f"{tag}.onnx", f"{tag}.safetensors", f"{tag}-engine.npy"))
        t = time.time()
        seer(args.seer_agent, "export", "--model", path, "--bits", bits, "--finetune-steps", str(steps), "--seed",
             str(args.seed), "--out", exported, "--save-weights", weights, *common)
        seconds = time.time() - t
        seer(args.seer_agent, "predict", "--model", path, "--weights", weights, "--input", test_path, "--output",
             engine_path, *common)
        onnx.checker.check_model(onnx.load(exported), full_check=True)
        outcome = {"bits": bits, "finetune_steps": steps, "export_seconds": round(seconds, 1),
                   **compare(np.load(engine_path), onnxruntime_logits(exported, test_images), labels),
                   "macs": json.loads(seer(args.seer_agent, "complexity", "--model", path, "--bits", bits, "--json"))["macs"]}
        result["exports"].append(outcome)
        log(f"{name} {bits}: {outcome}")
    return result



def main():
    p = argparse.ArgumentParser()
    p.add_argument("--seer-agent", required=True)
    p.add_argument("--work", default=".build-torchvision/trained")
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--fashion-mnist", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--size", type=int, default=48)
    p.add_argument("--train", type=int, default=2000, help="training images (a random subset of Fashion-MNIST's)")
    p.add_argument("--test", type=int, default=1000, help="test images (a random subset of Fashion-MNIST's test set)")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    npz, data, test_images, test_path = make_data(args)
    results = []
    for name in args.models.split(","):
        if name not in MODELS:
            p.error(f"--models: '{name}' is not one of {', '.join(MODELS)}")
        try:
            results.append(check(name, args, npz, data, test_images, test_path))
        except RuntimeError as e:  # a failing step is a result, not the end of the run
            log(f"{name}: {e}")
            results.append({"model": name, "error": str(e)})
    print(json.dumps({"benchmark": "torchvision-trained", "cpu": cpu_name(), "torch": torch.__version__,
                      "torchvision": torchvision.__version__, "onnx": onnx.__version__, "onnxruntime": ort.__version__,
                      "size": args.size, "train_images": args.train, "test_images": args.test, "epochs": args.epochs,
                      "policies": [{"bits": b, "finetune_steps": s} for b, s in POLICIES], "results": results},
                     sort_keys=True))


if __name__ == "__main__":
    main()
