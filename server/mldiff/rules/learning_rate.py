"""learning_rate: LR values and constants, schedulers, warmup and decay, when the scheduler steps."""
from __future__ import annotations

from mldiff.rules.base import Example, Expect, Rule
from mldiff.rules.roles import ValueChange, ValueRule


class LearningRateChanged(ValueRule, Rule):
    """A learning rate changed: an optimizer's ``lr``, or a setting that feeds it
    (module constant, argparse default, config entry, dataclass field).

    The learning rate is the hyperparameter results are most sensitive to: ten times
    larger can diverge, ten times smaller can look like a broken model. When the value
    is defined away from where it is used, the finding sits on the definition and names
    the optimizer it flows into. Check that the change is intended, and that schedulers,
    warmup and batch size still fit the new value.
    """

    code = "ML301"
    family = "learning_rate"
    name = "learning-rate-value"
    summary = "Learning rate value changed (optimizer lr or a setting that feeds it)"
    topics = ("lr",)
    examples = (
        Example(
            before="import torch\nmodel = torch.nn.Linear(2, 2)\n"
                   "opt = torch.optim.Adam(model.parameters(), lr=1e-3)\n",
            after="import torch\nmodel = torch.nn.Linear(2, 2)\n"
                  "opt = torch.optim.Adam(model.parameters(), lr=1e-2)\n",
            expect=(Expect(3, "learning rate 1e-3 -> 1e-2 (Adam lr)"),),
        ),
        Example(
            before="import torch.optim as optim\nLEARNING_RATE = 1e-3\n\ndef make(model):\n"
                   "    return optim.Adam(model.parameters(), lr=LEARNING_RATE)\n",
            after="import torch.optim as optim\nLEARNING_RATE = 1e-2\n\ndef make(model):\n"
                  "    return optim.Adam(model.parameters(), lr=LEARNING_RATE)\n",
            expect=(Expect(2, "LEARNING_RATE 1e-3 -> 1e-2, used as Adam lr at line 5"),),
        ),
        Example(
            before="import argparse\np = argparse.ArgumentParser()\n"
                   "p.add_argument('--lr', type=float, default=0.1, help='learning rate')\n",
            after="import argparse\np = argparse.ArgumentParser()\n"
                  "p.add_argument('--lr', type=float, default=0.01, help='learning rate')\n",
            expect=(Expect(3, "--lr default 0.1 -> 0.01"),),
        ),
        Example(
            before="import torch\nopt = torch.optim.SGD(params, 0.1, momentum=0.9)\n",
            after="import torch\nopt = torch.optim.SGD(params, lr=0.05, momentum=0.9)\n",
            expect=(Expect(2, "0.1 -> 0.05 (SGD lr)"),),
        ),
        Example(  # help text only
            before="import argparse\np = argparse.ArgumentParser()\n"
                   "p.add_argument('--lr', type=float, default=0.1, help='learning rate')\n",
            after="import argparse\np = argparse.ArgumentParser()\n"
                  "p.add_argument('--lr', type=float, default=0.1, help='initial learning rate (default: 0.1)')\n",
        ),
        Example(  # same value, other spelling
            before="learning_rate = 0.001\n",
            after="learning_rate = 1e-3  # as in the paper\n",
        ),
        Example(  # logging the learning rate
            before="lr = 3e-4\nprint('lr', lr)\n",
            after="lr = 3e-4\nprint(f'learning rate: {lr:.2e}')\n",
        ),
        Example(  # a YAML config (analysis/configfiles.py): nested keys, classified by the last one
            path="config/train.yaml",
            before="optimizer:\n  name: adamw\n  lr: 3e-4\n",
            after="optimizer:\n  name: adamw\n  lr: 1e-3\n",
            expect=(Expect(3, "optimizer.lr 3e-4 -> 1e-3"),),
        ),
        Example(  # a JSON config: keys reordered, the same value spelled differently
            path="configs/train.json",
            before='{"lr": 0.001, "batch_size": 32}\n',
            after='{\n  "batch_size": 32,\n  "lr": 1e-3\n}\n',
        ),
    )

    def message(self, value_change: ValueChange) -> str:
        if value_change.kind == "argument" and value_change.old is not None and value_change.new is not None:
            return (f"learning rate {value_change.old.code} -> {value_change.new.code} "
                    f"({value_change.subject})")
        return value_change.describe()
