"""Training scripts the language-server tests open, edit and check (with the lines that matter)."""
from __future__ import annotations

TRAIN = '''\
import torch
from torch import nn
from torchvision import datasets, transforms

train_transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
eval_transform = transforms.Compose([
    transforms.ToTensor(),
    transforms.Normalize((0.1307,), (0.3081,)),
])
train_set = datasets.MNIST("data", train=True, download=True, transform=train_transform)
loader = torch.utils.data.DataLoader(train_set, batch_size=64, shuffle=True)
model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
for images, labels in loader:
    optimizer.zero_grad()
    loss = nn.functional.cross_entropy(model(images), labels)
    loss.backward()
    optimizer.step()
'''

TRAIN_LINE = 4            # 0-based: the one-line train transform
TRAIN_WITHOUT_NORMALIZE = "train_transform = transforms.Compose([transforms.ToTensor()])"
TRAIN_LINE_TEXT = TRAIN.splitlines()[TRAIN_LINE]
REMOVED_MESSAGE = "transforms.Normalize((0.1307,), (0.3081,)) removed"
