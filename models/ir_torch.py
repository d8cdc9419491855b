"""The reference's IR backbone (REFERENCE.md section 3) as a PyTorch module,
the single definition the toolkit's PyTorch-side scripts share: the golden
generators in tests/ and the benchmark peers in bench/. Parameter names are
the reference's state_dict keys, which libcommon/ir.c reproduces.

    from ir_torch import IR, UNITS
    model = IR(UNITS[18], dropout=0.4)
"""
import torch
import torch.nn as nn


class Unit(nn.Module):
    def __init__(self, cin, d, st):
        super().__init__()
        self.shortcut_layer = nn.MaxPool2d(1, st) if cin == d else nn.Sequential(
            nn.Conv2d(cin, d, 1, st, bias=False), nn.BatchNorm2d(d))
        self.res_layer = nn.Sequential(nn.BatchNorm2d(cin), nn.Conv2d(cin, d, 3, 1, 1, bias=False), nn.BatchNorm2d(d),
                                       nn.PReLU(d), nn.Conv2d(d, d, 3, st, 1, bias=False), nn.BatchNorm2d(d))

    def forward(self, x):
        return self.res_layer(x) + self.shortcut_layer(x)


class IR(nn.Module):
    def __init__(self, units, dropout=0.4):
        super().__init__()
        self.input_layer = nn.Sequential(nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.PReLU(64))
        body, cin = [], 64
        for d, n in zip((64, 128, 256, 512), units):
            for k in range(n):
                body.append(Unit(cin, d, 2 if k == 0 else 1))
                cin = d
        self.body = nn.Sequential(*body)
        self.output_layer = nn.Sequential(nn.BatchNorm2d(512), nn.Dropout(dropout), nn.Flatten(),
                                          nn.Linear(512 * 49, 512), nn.BatchNorm1d(512, affine=False))

    def forward(self, x):
        x = self.output_layer(self.body(self.input_layer(x)))
        n = torch.norm(x, 2, 1, True)
        return x / n, n


UNITS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 14, 3), 100: (3, 13, 30, 3)}


def ir_module(units, dropout=0.4):
    return IR(units, dropout)
