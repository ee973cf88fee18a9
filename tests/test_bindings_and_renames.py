"""Bindings read from single statements, and renames across a change: what rules pair base with head by."""
from __future__ import annotations

from mldiff.facts.context import python_context
from mldiff.analysis.statements import parse_unit


def targets(source: str) -> list[str]:
    return [binding.target for binding in parse_unit(source, "", False).facts.bindings]


def test_subscript_with_a_string_key_binds_a_dotted_name():
    assert targets("config['lr'] = 1e-3\n") == ["config.lr"]
    assert targets("os.environ['PYTHONHASHSEED'] = str(seed)\n") == ["os.environ.PYTHONHASHSEED"]


def test_other_subscripts_keep_their_shape():
    assert targets("weight[PAD] = 0\n") == ["weight[...]"]
    assert targets("lr = 0.1\n") == ["lr"]


def test_swapping_a_called_class_is_not_a_rename():
    from mldiff.analysis.change import PythonChange
    swap = PythonChange.from_texts("t.py", "from models import *\nnet = ResNet18()\n",
                                   "from models import *\nnet = SimpleDLA()\n")
    assert swap.renames == {}
    rename = PythonChange.from_texts("t.py", "def train_epoch(n):\n    pass\ntrain_epoch(1)\n",
                                     "def run_epoch(n):\n    pass\nrun_epoch(1)\n")
    assert rename.renames == {"train_epoch": "run_epoch"}


def test_a_rename_reaches_into_f_string_fields():
    from mldiff.analysis.change import PythonChange
    base = "LOCAL_RANK = int(env['RANK'])\ndevice = f'cuda:{LOCAL_RANK}'\nddp(model, [LOCAL_RANK])\n"
    change = PythonChange.from_texts("t.py", base, base.replace("LOCAL_RANK =", "local_rank =")
                                     .replace("{LOCAL_RANK}", "{local_rank}").replace("[LOCAL_RANK]", "[local_rank]"))
    assert change.renames == {"LOCAL_RANK": "local_rank"}
    other_text = PythonChange.from_texts("t.py", "x = 1\nd = f'cuda:{x}'\n", "y = 1\nd = f'cpu:{y}'\n")
    assert other_text.renames == {}


def test_importing_another_object_under_another_alias_is_not_a_rename():
    from mldiff.analysis.change import PythonChange
    swap = PythonChange.from_texts(
        "t.py", "from torch.nn.parallel import DistributedDataParallel as DDP\nmodel = DDP(model)\n",
        "from torch.distributed.fsdp import FullyShardedDataParallel as FSDP\nmodel = FSDP(model)\n")
    assert swap.renames == {}
    alias = PythonChange.from_texts("t.py", "import numpy as np\nx = np.ones(3)\n", "import numpy as npy\nx = npy.ones(3)\n")
    assert alias.renames == {"np": "npy"}


def test_reading_an_attribute_of_a_config_does_not_pass_the_config():
    from mldiff.analysis.change import PythonChange
    from mldiff.facts.value_changes import value_changes
    before = "import torch.nn as nn\nconfig = Config(bias=False)\nfc = nn.Linear(config.n_embd, 3)\n"
    change = python_context("t.py", before, before.replace("bias=False", "bias=True"))
    assert value_changes(change) == []
    before = "import torch.nn as nn\nwidth = 64\nfc = nn.Linear(width, 3)\n"
    change = python_context("t.py", before, before.replace("64", "128"))
    assert [(v.family, v.topic) for v in value_changes(change)] == [("model_capacity", "size")]


def test_conditions_around_a_statement():
    from mldiff.analysis.module import ModuleView
    from mldiff.facts.conditions import conditions
    view = ModuleView("if a and not (b or c):\n    x = 1\nelif not (0 < d < 5):\n    y = 2\nelse:\n    z = 3\n")
    assert list(conditions(view, 1).values()) == ["a", "not b", "not c"]
    assert list(conditions(view, 3).values()) == ["not 0 < d < 5", "(not a or (b or c))"]
    assert list(conditions(view, 5).values()) == ["0 < d < 5", "(not a or (b or c))"]
