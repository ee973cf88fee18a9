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
# pyproject.toml that leaves out the train/eval mismatch (ML204) that dropping Normalize from
# the training pipeline also is: tests that follow ML201 alone use it; ML204's own examples test it
ONLY_ML201 = '[tool.mldiff]\nignore = ["ML204"]\n'


# A loop that scales the loss but steps the optimizer directly (ML803, reported even in a new file).
SCALER_LOOP = '''\
import torch
model = torch.nn.Linear(4, 1)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
scaler = torch.amp.GradScaler("cuda")
for x, y in loader:
    loss = model(x).sum()
    scaler.scale(loss).backward()
    optimizer.step()
'''
SCALER_STEP_LINE = 7

# Mixed precision through the current API; the change goes back to the deprecated one (ML107).
AUTOCAST = '''\
import torch
model = torch.nn.Linear(4, 1)
for x in loader:
    with torch.autocast("cuda"):
        loss = model(x).sum()
'''
DEPRECATED_AUTOCAST = AUTOCAST.replace('torch.autocast("cuda")', "torch.cuda.amp.autocast()")

# A learning-rate constant that flows into the optimizer two lines down (ML301 with a related place).
LR_SCRIPT = '''\
import torch
LR = 1e-3
model = torch.nn.Linear(2, 2)
tag = "优化器🙂"; opt = torch.optim.Adam(model.parameters(), lr=LR)
'''


def commit_train_script(repo):
    """``repo`` (a conftest.Repo) with TRAIN committed as train.py, reporting ML201 alone."""
    repo.write("train.py", TRAIN)
    repo.write("pyproject.toml", ONLY_ML201)
    repo.commit("train")
    return repo
