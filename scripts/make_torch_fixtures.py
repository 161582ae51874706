"""The committed PyTorch-exported ONNX fixtures of the import tests (Tests/Fixtures/onnx). Needs torch, which stays out
of .venv and `make test`: run it with a Python that has it (e.g. /work/torchenv/bin/python or $SEER_TORCH_PYTHON).

cifar-resnet-option-a-*: a CIFAR-style ResNet (He et al. 2016, section 4.2) on 3x16x16 inputs with 10 classes, three
stages of one basic block (4, 8, 16 channels), whose downsampling shortcuts are option A, as in the widely used
pytorch_resnet_cifar10: F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, planes // 4, planes // 4)), i.e. a strided Slice and a Pad
of zero channels. Random weights and batch-norm statistics (seed 0), eval mode; exported with the TorchScript exporter
at opset 13 (its pads are a ConstantOfShape/Concat/Reshape/Slice/Transpose/Cast chain) and the dynamo exporter at
opset 18 (constant pads).

Usage: make_torch_fixtures.py [OUT_DIR]   (default Tests/Fixtures/onnx)
"""
import os, sys
import torch, torch.nn as nn, torch.nn.functional as F

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures", "onnx")
torch.manual_seed(0)


class Shortcut(nn.Module):
    def __init__(self, planes):
        super().__init__()
        self.planes = planes

    def forward(self, x):
        return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.planes // 4, self.planes // 4), "constant", 0)


class BasicBlock(nn.Module):
    def __init__(self, cin, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = Shortcut(planes) if stride != 1 or cin != planes else nn.Identity()

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + self.shortcut(x))


class CifarResNet(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(4)
        self.layer1 = BasicBlock(4, 4, 1)
        self.layer2 = BasicBlock(4, 8, 2)
        self.layer3 = BasicBlock(8, 16, 2)
        self.linear = nn.Linear(16, classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        x = F.avg_pool2d(x, x.size()[3])
        return self.linear(x.view(x.size(0), -1))


model = CifarResNet()
for m in model.modules():
    if isinstance(m, nn.BatchNorm2d):
        m.running_mean.uniform_(-0.2, 0.2)
        m.running_var.uniform_(0.5, 1.5)
        m.weight.data.uniform_(0.5, 1.5)
        m.bias.data.uniform_(-0.2, 0.2)
model.eval()
x = torch.randn(2, 3, 16, 16)
names = dict(input_names=["input"], output_names=["logits"])
torch.onnx.export(model, x, os.path.join(out, "cifar-resnet-option-a-torchscript-opset13.onnx"), opset_version=13,
                  dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}}, dynamo=False, **names)
batch = torch.export.Dim("batch", min=1, max=1024)
program = torch.onnx.export(model, (x,), dynamo=True, opset_version=18, dynamic_shapes={"x": {0: batch}}, **names)
program.save(os.path.join(out, "cifar-resnet-option-a-dynamo-opset18.onnx"))
print("torch", torch.__version__, "->", os.path.abspath(out))
