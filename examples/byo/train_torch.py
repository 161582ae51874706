"""The PyTorch side of the bring-your-own example: trains a small CNN on the example's 32x32x3 images, exports it
with torch.onnx.export, and writes a campaign config that takes the ONNX file as it is (its trained weights, no
`seer-coordinator train` step).

Run after make_example.py, in a Python with torch and onnx (not the project's .venv: PyTorch is a few GB):
    $SEER_TORCH_PYTHON examples/byo/train_torch.py OUT
Writes OUT/torch-cnn.onnx and OUT/campaign-torch.yaml; prints the test accuracy PyTorch measured.
"""
import os, sys
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

out = sys.argv[1] if len(sys.argv) > 1 else "/tmp/byo-example"
data = np.load(os.path.join(out, "data.npz"))
# The normalization the campaign declares (per channel, on pixels scaled to [0, 1]).
MEAN, STD = 0.5, 0.25


def tensor(images):
    return torch.from_numpy(((images.astype(np.float32) / 255 - MEAN) / STD).transpose(0, 3, 1, 2).copy())


x_train, y_train = tensor(data["x_train"]), torch.from_numpy(data["y_train"].astype(np.int64))
x_test, y_test = tensor(data["x_test"]), torch.from_numpy(data["y_test"].astype(np.int64))
classes = int(max(y_train.max(), y_test.max())) + 1


def block(cin, cout, stride):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


torch.manual_seed(0)
model = nn.Sequential(block(3, 16, 1), block(16, 32, 2), block(32, 32, 1), block(32, 64, 2),
                      nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, classes))
optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
epochs, batch = 8, 32
schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs * (len(x_train) // batch))
for epoch in range(epochs):
    model.train()
    order = torch.randperm(len(x_train))
    for b in range(len(x_train) // batch):
        i = order[b * batch:(b + 1) * batch]
        # The augmentation Seer fine-tunes with: a random horizontal flip.
        images = torch.where(torch.rand(len(i), 1, 1, 1) < 0.5, x_train[i].flip(3), x_train[i])
        loss = F.cross_entropy(model(images), y_train[i])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    model.eval()
    with torch.no_grad():
        accuracy = (model(x_test).argmax(1) == y_test).float().mean().item() * 100
    print(f"epoch {epoch + 1}/{epochs}: loss {loss.item():.3f}, test accuracy {accuracy:.2f}%", flush=True)

path = os.path.join(out, "torch-cnn.onnx")
torch.onnx.export(model, (x_test[:1],), path, dynamo=False, opset_version=17, input_names=["input"],
                  output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
with open(os.path.join(out, "campaign-npz.yaml")) as f:
    npz_config = f.read()
# The same campaign on the PyTorch network: its ONNX weights are the starting point (no checkpoint line).
config = "\n".join(line for line in npz_config.splitlines() if not line.startswith("checkpoint:"))
config = config.replace("name: byo-npz", "name: byo-torch").replace(f"model: {out}/cnn.onnx", f"model: {path}")
with open(os.path.join(out, "campaign-torch.yaml"), "w") as f:
    f.write(config + "\n")
print(f"wrote {path} and {out}/campaign-torch.yaml; PyTorch test accuracy {accuracy:.2f}%")
