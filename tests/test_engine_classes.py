"""The five classes of blindness the engine is built against (DESIGN.md, "The engine"), each
firing on a real change and silent on its near miss, through the whole engine: context
changes, indirect values, knowledge, narrower guards, statement order; and the purpose of a
function, the last resort of classification."""
from __future__ import annotations

import pytest

from mldiff.engine import analyze

LOOP = '''import torch
model = Net()
optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4)
scaler = torch.amp.GradScaler("cuda")
for step, (x, y) in enumerate(loader):
'''


def findings(base: str, head: str, path: str = "train.py") -> list[tuple[str, int, str]]:
    result = analyze(path, base, head)
    assert result.errors == []
    return [(f.code, f.span.line, f.message) for f in result.findings]


def one(base: str, head: str, code: str, line: int, text: str) -> None:
    found = findings(base, head)
    assert any(c == code and n == line and text in m for c, n, m in found), found


def silent(base: str, head: str, path: str = "train.py") -> None:
    assert findings(base, head, path) == []


# -- 1. context: the statement is the same, what surrounds it is not ------------------------------------
def test_a_step_that_became_conditional_is_a_change_of_its_family():
    base = LOOP + "    scaler.scale(model(x).sum()).backward()\n    scaler.step(optimizer)\n    scaler.update()\n"
    head = LOOP + "    scaler.scale(model(x).sum()).backward()\n    if step % 4 == 0:\n" \
                  "        scaler.step(optimizer)\n    scaler.update()\n"
    one(base, head, "ML899", 8, "scaler.step(optimizer) now only when step % 4 == 0")


def test_the_loss_moved_into_autocast():
    base = LOOP + "    out = model(x)\n    loss = torch.nn.functional.cross_entropy(out, y)\n"
    head = LOOP + "    with torch.autocast('cuda', dtype=torch.float16):\n        out = model(x)\n" \
                  "        loss = torch.nn.functional.cross_entropy(out, y)\n"
    found = findings(base, head)
    assert any(c == "ML101" or ("autocast" in m and c.startswith("ML1")) for c, _, m in found), found


def test_a_condition_reworded_without_reading_anything_else_is_no_change():
    base = LOOP + "    if step % 4 == 0:\n        optimizer.step()\n"
    head = LOOP + "    if (step % 4) == 0:  # every fourth micro-batch\n        optimizer.step()\n"
    silent(base, head)


# -- 2. indirect values: through dicts, definitions and the file's own functions --------------------------
def test_a_keyword_that_arrives_through_a_dict_is_compared_as_passed():
    base = "import torch\nkw = dict(lr=1e-3, weight_decay=0.05)\nopt = torch.optim.AdamW(params, **kw)\n"
    head = "import torch\nkw = dict(lr=1e-2, weight_decay=0.05)\nopt = torch.optim.AdamW(params, **kw)\n"
    assert any(code == "ML301" for code, _, _ in findings(base, head))


def test_a_test_set_now_given_the_augmenting_transform():
    base = '''from torchvision import datasets, transforms
train_tf = transforms.Compose([transforms.RandomCrop(32, padding=4), transforms.ToTensor()])
test_tf = transforms.Compose([transforms.ToTensor()])
test_set = datasets.CIFAR10("data", train=False, transform=test_tf)
'''
    head = base.replace('train=False, transform=test_tf', 'train=False, transform=train_tf')
    assert findings(base, head), "the test set's transform now names another object"


def test_a_local_function_passed_by_name_is_what_it_does():
    base = '''from torchvision import transforms
def to_unit(x):
    return x / 255
def to_signed(x):
    return x * 2 - 1
tf = transforms.Compose([transforms.PILToTensor(), transforms.Lambda(to_unit)])
'''
    head = base.replace("transforms.Lambda(to_unit)", "transforms.Lambda(to_signed)")
    assert any(f[0].startswith("ML2") for f in findings(base, head))


ZOO = """configs = [
    dict(
        name="tiny",
        n_layer=12,
        _norm_class="FusedRMSNorm",
    ),
]
"""


def test_a_config_in_a_list_is_known_by_its_name():
    """A model zoo (``configs = [dict(name=..., ...), ...]``): an entry changed is that setting of
    that config, found where its old value stood, even with another config inserted before it
    (whose size is a new model's, reported as set)."""
    head = ZOO.replace("configs = [\n", 'configs = [\n    dict(name="small", n_layer=6),\n') \
        .replace('"FusedRMSNorm"', '"RMSNorm"')
    result = analyze("config.py", ZOO, head)
    assert [(f.code, f.span.line, f.message, f.base_line) for f in result.findings] == [
        ("ML1101", 2, "configs.small.n_layer set to 6", None),
        ("ML202", 6, 'configs.tiny._norm_class "FusedRMSNorm" -> "RMSNorm"', 5)]


def test_a_dict_rebuilt_with_the_same_values_is_silent():
    base = "import torch\nkw = dict(lr=1e-3, weight_decay=0.05)\nopt = torch.optim.AdamW(params, **kw)\n"
    head = "import torch\nkw = {'lr': 1e-3, 'weight_decay': 0.05}\nopt = torch.optim.AdamW(params, **kw)\n"
    silent(base, head)


# -- 3. knowledge: what the libraries mean ---------------------------------------------------------------
def test_a_deprecated_alias_is_the_same_transform():
    base = "from torchvision import transforms\ntf = transforms.Compose([transforms.RandomSizedCrop(224)])\n"
    head = "from torchvision import transforms\ntf = transforms.Compose([transforms.RandomResizedCrop(224)])\n"
    silent(base, head)


def test_writing_the_ignore_index_into_the_labels_is_the_loss():
    base = '''IGNORE_INDEX = -100
def preprocess(input_ids, prompt_lens):
    labels = input_ids.clone()
    for label, n in zip(labels, prompt_lens):
        label[:n] = IGNORE_INDEX
    return labels
'''
    head = base.replace("label[:n] = IGNORE_INDEX", "label[:n + 1] = IGNORE_INDEX")
    one(base, head, "ML599", 5, "label masking")


def test_a_noise_scheduler_loaded_from_pretrained_is_no_model():
    base = "from diffusers import DDPMScheduler\nnoise_scheduler = DDPMScheduler.from_config(path, subfolder='s')\n"
    head = "from diffusers import DDPMScheduler\nnoise_scheduler = DDPMScheduler.from_pretrained(path, subfolder='s')\n"
    assert not any(code == "ML1102" for code, _, _ in findings(base, head))


def test_a_schedule_of_another_quantity_is_no_learning_rate_schedule():
    base = "from sb3.common.utils import get_schedule_fn\nself.clip_range = get_schedule_fn(self.clip_range)\n"
    head = "from sb3.common.utils import FloatSchedule\nself.clip_range = FloatSchedule(self.clip_range)\n"
    assert not any(code.startswith("ML3") for code, _, _ in findings(base, head))


@pytest.mark.parametrize("path, base, head, expected", [
    ("config.py", "_C.BN = CN()\n_C.BN.USE_PRECISE_STATS = False\n", "_C.BN = CN()\n_C.BN.USE_PRECISE_STATS = True\n",
     ("ML202", 2, "_C.BN.USE_PRECISE_STATS False -> True")),
    ("train.yaml", "amp:\n  enabled: false\n", "amp:\n  enabled: true\n", ("ML103", 2, "amp.enabled false -> true")),
    ("train.yaml", "fsdp:\n  sharding_strategy: FULL_SHARD\n", "fsdp:\n  sharding_strategy: NO_SHARD\n",
     ("ML1202", 2, "fsdp.sharding_strategy FULL_SHARD -> NO_SHARD")),
])
def test_a_key_its_name_says_nothing_of_is_what_its_section_configures(path, base, head, expected):
    assert findings(base, head, path) == [expected]


def test_bookkeeping_in_a_section_is_not_what_the_section_configures():
    silent("optimizer:\n  log_every: 10\n", "optimizer:\n  log_every: 50\n", "train.yaml")


# -- 4. narrower guards: a precise test instead of an exclusion ------------------------------------------
def test_a_threshold_read_through_its_argparse_default_is_the_same():
    base = LOOP.replace("import torch\n", "import torch\ngrad_clip = 1.0\n") + \
        "    loss.backward()\n    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)\n"
    head = LOOP.replace("import torch\n", "import argparse, torch\nparser = argparse.ArgumentParser()\n"
                        "parser.add_argument('--grad_clip', type=float, default=1.0)\nargs = parser.parse_args()\n") + \
        "    loss.backward()\n    torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)\n"
    assert not any(code == "ML805" for code, _, _ in findings(base, head))


def test_a_threshold_read_from_another_default_is_a_change():
    base = LOOP.replace("import torch\n", "import torch\ngrad_clip = 1.0\n") + \
        "    loss.backward()\n    torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)\n"
    head = LOOP.replace("import torch\n", "import argparse, torch\nparser = argparse.ArgumentParser()\n"
                        "parser.add_argument('--grad_clip', type=float, default=0.5)\nargs = parser.parse_args()\n") + \
        "    loss.backward()\n    torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)\n"
    assert any(code == "ML805" for code, _, _ in findings(base, head))


def test_a_setting_renamed_throughout_the_file_reads_the_same_value():
    base = LOOP + "    loss.backward()\n    torch.nn.utils.clip_grad_norm_(model.parameters(), args.norm_gradient_clip)\n"
    head = LOOP + "    loss.backward()\n    torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip_norm)\n"
    silent(base, head)


def test_a_dict_key_renamed_with_its_value_is_a_rename():
    base = 'CFG = {"ctx_len": 256, "emb_dim": 768}\nloader = make_loader(text, max_length=CFG["ctx_len"])\n'
    head = 'CFG = {"context_length": 256, "emb_dim": 768}\nloader = make_loader(text, max_length=CFG["context_length"])\n'
    silent(base, head)


def test_the_same_step_on_another_optimizer_is_a_change():
    base = LOOP + "    loss.backward()\n    optimizer.step()\n"
    head = LOOP + "    loss.backward()\n    optimizer_g.step()\n"
    assert findings(base, head)


# -- 5. order: a call moved across the one it depends on --------------------------------------------------
def test_zero_grad_moved_between_backward_and_step():
    base = LOOP + "    optimizer.zero_grad()\n    loss = model(x).sum()\n    loss.backward()\n    optimizer.step()\n"
    head = LOOP + "    loss = model(x).sum()\n    loss.backward()\n    optimizer.zero_grad()\n    optimizer.step()\n"
    assert any(code.startswith("ML8") for code, _, _ in findings(base, head))


def test_the_batch_now_fetched_before_the_forward_pass_is_a_data_change():
    """The fetch moved from after the forward pass to before it: the step trains on another
    batch, whichever of the two lines the diff shows as moved."""
    fetch, forward = "        x, y = train_loader.next_batch()\n", "        loss = model(x, y)\n"
    around = "x, y = train_loader.next_batch()\nfor step in range(10):\n    for micro_step in range(4):\n{}" \
             "        loss.backward()\n    optimizer.step()\n"
    found = findings(around.format(forward + fetch), around.format(fetch + forward))
    assert any(code == "ML1099" and "now" in message and "next_batch" in message for code, _, message in found), found


def test_a_statement_moved_past_one_it_shares_nothing_with_is_silent():
    base = "tokenizer = Tokenizer(path)\nmodel = build()\nmodel.eval()\n"
    silent(base, "model = build()\nmodel.eval()\ntokenizer = Tokenizer(path)\n")


def test_two_independent_settings_swapped_in_order_are_silent():
    base = "import torch\ntorch.manual_seed(0)\nbatch_size = 64\nlr = 1e-3\n"
    head = "import torch\ntorch.manual_seed(0)\nlr = 1e-3\nbatch_size = 64\n"
    silent(base, head)


# -- plain bugs that broke whole classes -----------------------------------------------------------------
def test_an_option_renamed_with_a_default_of_zero_is_a_rename():
    """``0 in (False, "")`` is True in Python: a new default of 0 was once taken for 'off'."""
    base = "import argparse\nparser = argparse.ArgumentParser()\nparser.add_argument('--warmup-epochs', type=int, default=0)\n"
    head = "import argparse\nparser = argparse.ArgumentParser()\nparser.add_argument('--lr-warmup-epochs', type=int, default=0)\n"
    silent(base, head)


def test_the_settings_object_given_to_a_legacy_factory_is_not_its_parameters():
    base = '''from timm.optim import create_optimizer
def main(args, model):
    args.lr = args.lr * args.batch_size / 256
    optimizer = create_optimizer(args, model)
'''
    head = base.replace("/ 256", "/ 512")
    assert [code for code, _, _ in findings(base, head)] == ["ML301"]


# -- the purpose of a function ---------------------------------------------------------------------------
def test_a_loss_weight_computed_after_the_forward_pass_is_the_loss():
    base = '''import torch
import torch.nn.functional as F
def train_step(unet, batch, snr):
    pred = unet(batch)
    weights = torch.clamp(snr, max=5.0) / snr
    loss = F.mse_loss(pred, batch, reduction="none").mean(dim=1) * weights
    loss = loss.mean()
    loss.backward()
'''
    head = base.replace("weights = torch.clamp(snr, max=5.0) / snr", "weights = torch.clamp(snr, max=5.0) / (snr + 1)")
    one(base, head, "ML599", 5, "weights (the loss)")


@pytest.mark.parametrize("edit", [
    ("conv = get_default_template('vicuna')", "conv = get_template('vicuna')"),  # not what the masking reads
    ("    print(len(labels))\n", "    rank0_print(len(labels))\n"),               # logging
])
def test_a_line_of_a_masking_function_that_the_masking_does_not_read_is_silent(edit):
    base = '''IGNORE_INDEX = -100
def preprocess(input_ids, prompt_lens):
    conv = get_default_template('vicuna')
    labels = input_ids.clone()
    for label, n in zip(labels, prompt_lens):
        label[:n] = IGNORE_INDEX
    print(len(labels))
    return labels, conv
'''
    silent(base, base.replace(*edit))


def test_an_augmentation_known_only_to_the_table_is_an_augmentation():
    """docs/architecture.md's worked example: one ``Api`` entry (``torchvision.transforms.v2.JPEG``)
    and ML902 reports it added, removed and changed."""
    base = "from torchvision.transforms import v2\ntf = v2.Compose([v2.RandomResizedCrop(224), v2.ToImage()])\n"
    head = "from torchvision.transforms import v2\ntf = v2.Compose([v2.RandomResizedCrop(224), v2.JPEG((50, 100)), v2.ToImage()])\n"
    assert findings(base, head) == [("ML902", 2, "augmentation v2.JPEG((50, 100)) added")]
    assert findings(head, head.replace("(50, 100)", "(80, 100)")) == [
        ("ML902", 2, "augmentation v2.JPEG((50, 100)) -> v2.JPEG((80, 100))")]


# -- the loss, followed past what the file names a loss ---------------------------------------------------
RL_STEP = '''import torch as th
def train(self):
    values, log_prob, entropy = self.policy.evaluate_actions(obs, actions)
    policy_loss = -(advantages * ratio).mean()
    entropy_loss = -log_prob.mean()
    loss = policy_loss + self.ent_coef * entropy_loss
    loss.backward()
'''


def test_a_term_summed_into_the_loss_before_any_known_forward_pass_is_the_loss():
    """``evaluate_actions`` is no model call the engine knows, so nothing counts as after the
    forward pass; a term added or scaled into the backpropagated value still is the loss."""
    one(RL_STEP, RL_STEP.replace("-log_prob.mean()", "-th.mean(-log_prob)"), "ML599", 5, "entropy_loss (the loss)")


def test_data_passed_through_a_call_before_the_forward_pass_is_not_the_loss():
    base = '''def train(net, batch):
    x = batch["image"]
    feats = encode(x)
    loss = feats.pow(2).mean()
    loss.backward()
'''
    silent(base, base.replace('x = batch["image"]', 'x = batch["pixels"]'))


def test_the_loss_handed_to_a_timm_style_scaler_is_backpropagated():
    base = '''def train_one_epoch(model, samples, optimizer, loss_scaler, args):
    loss, _, _ = model(samples, mask_ratio=args.mask_ratio)
    loss_scaler(loss, optimizer, parameters=model.parameters())
'''
    head = base.replace("    loss_scaler(", "    loss = loss * 0.5\n    loss_scaler(")
    one(base, head, "ML599", 3, "loss")
    silent(base, base.replace("loss, _, _ = model", "loss, pred, mask = model"))  # outputs now kept


def test_a_method_whose_parameter_is_backpropagated_makes_its_argument_the_loss():
    base = '''class Meta:
    def backprop_loss(self, loss):
        loss.backward()

    def forward_backward(self, images):
        out = self.student(images)
        total = out.sum()
        local = out.mean()
        total += local
        self.backprop_loss(total)
'''
    one(base, base.replace("local = out.mean()", "local = out.mean() / 2"), "ML599", 8, "local (the loss)")


def test_a_setting_read_by_the_loss_a_forward_method_returns_is_a_loss_setting():
    base = '''import argparse
parser = argparse.ArgumentParser()
parser.add_argument('--lambd', default=3.9e-3, type=float)
args = parser.parse_args()

class Twins(nn.Module):
    def forward(self, y1, y2):
        c = self.bn(y1).T @ self.bn(y2)
        loss = c.diagonal().sum() + args.lambd * c.sum()
        return loss

model = Twins()
for y1, y2 in loader:
    loss = model.forward(y1, y2)
    loss.backward()
'''
    one(base, base.replace("3.9e-3", "0.0051"), "ML502", 3, "--lambd default 3.9e-3 -> 0.0051, used in the loss")


def test_a_result_unpacked_into_more_names_is_the_same_statement():
    base = "def step(model, x):\n    loss = forward(model, x)\n    loss.backward()\n"
    silent(base, base.replace("loss = forward(", "loss, aux = forward("))


# -- narrower guards, second round: what the negatives of our own corpus still tripped on ---------------
def test_a_figure_computed_only_for_the_log_is_no_setting():
    base = '''def train_one_epoch(loader, args):
    for i, batch in enumerate(loader):
        num_samples = i * len(batch) * args.world_size
        logging.info(f"{num_samples} samples")
'''
    silent(base, base.replace("i * len(batch)", "(i + 1) * len(batch)"))


def test_a_new_off_flag_in_a_yacs_section_named_like_a_scheduler_is_silent():
    """``_C.TRAIN.LR_SCHEDULER`` is a config section, not a scheduler object whose attribute is set."""
    base = "_C.TRAIN.LR_SCHEDULER = CN()\n_C.TRAIN.LR_SCHEDULER.NAME = 'cosine'\n"
    silent(base, base + "_C.TRAIN.LR_SCHEDULER.WARMUP_PREFIX = False\n", "config.py")


def test_an_evaluation_helper_that_computes_a_loss_is_no_loss_operation():
    base = '''import torch
def validate(model, loader):
    criterion = torch.nn.CrossEntropyLoss()
    model.eval()
    for x, y in loader:
        loss = criterion(model(x), y)
    return loss

def main(model, loader, optimizer):
    for epoch in range(10):
        model.train()
        train_one_epoch(model, loader, optimizer)
'''
    silent(base, base + "        acc = validate(model, loader)\n")


def test_an_offset_that_is_zero_on_every_branch_is_no_seed_change():
    base = "import torch\nif ddp:\n    seed_offset = 0\nelse:\n    seed_offset = 0\ntorch.manual_seed(42 + seed_offset)\n"
    silent(base, base.replace("42 + seed_offset", "42"))


def test_an_option_default_in_arithmetic_is_no_constant():
    base = '''import argparse
from diffusers.optimization import get_scheduler
p = argparse.ArgumentParser()
p.add_argument("--warmup", type=int, default=500)
p.add_argument("--accum", type=int, default=1)
args = p.parse_args()
sched = get_scheduler("cosine", optimizer, num_warmup_steps=args.warmup)
'''
    found = findings(base, base.replace("num_warmup_steps=args.warmup", "num_warmup_steps=args.warmup * args.accum"))
    assert any(code.startswith("ML3") for code, _, _ in found), found


def test_a_loss_computed_for_a_reference_dump_is_not_the_one_backpropagated():
    base = '''x, y = next(data_iter)
optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
for i in range(10):
    logits, loss = model(x, y)
    loss.backward()
    optimizer.step()
'''
    head = base.replace("optimizer = torch", "if args.write_tensors:\n    logits, loss = model(x, y)\n"
                        "    write_state(model, x, y, logits, loss)\noptimizer = torch")
    silent(base, head)


def test_a_loss_bound_in_an_else_branch_does_not_end_the_if_branch_value():
    base = '''def step(model, x, y, mode):
    if mode == "a":
        loss = model(x).sum()
    else:
        loss = model(y).sum()
    loss.backward()
'''
    one(base, base.replace("model(x).sum()", "model(x).mean()"), "ML599", 3, "loss")


def test_zero_grad_moved_into_autocast_is_silent_and_backward_is_not():
    base = LOOP + "    optimizer.zero_grad()\n    with torch.autocast('cuda'):\n        loss = model(x).sum()\n" \
                  "    scaler.scale(loss).backward()\n"
    head = LOOP + "    with torch.autocast('cuda'):\n        optimizer.zero_grad()\n        loss = model(x).sum()\n" \
                  "    scaler.scale(loss).backward()\n"
    silent(base, head)
    moved = LOOP + "    optimizer.zero_grad()\n    with torch.autocast('cuda'):\n        loss = model(x).sum()\n" \
                   "        scaler.scale(loss).backward()\n"
    found = findings(base, moved)
    assert any("backward" in message and "autocast" in message for _, _, message in found), found


def test_a_layer_built_into_a_local_and_called_is_that_layer():
    base = '''import torch.nn as nn
class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.fc = nn.Linear(c, c)
class Net(nn.Module):
    def forward(self, x):
        x = self.stem(x)
        return x
'''
    head = base.replace("        return x\n", "        block = Block(x.shape[1])\n        x = block(x)\n        return x\n")
    one(base, head, "ML1199", 10, "block (Block)")


def test_the_files_own_helper_given_a_float_dtype_works_in_it():
    base = '''import torch
def cast(t, dtype):
    return t.to(dtype) if torch.is_autocast_enabled() else t
def forward(x):
    return x.mean()
'''
    head = base.replace("    return x.mean()", "    x = cast(x, dtype=torch.float32)\n    return x.mean()")
    one(base, head, "ML199", 5, "cast() in torch.float32")


# -- knowledge: an API named, not called, is what the code will build ---------------------------------------
def test_a_loss_class_swapped_in_a_registry_is_a_loss_change():
    base = 'import torch\n_loss_funs = {"cross_entropy": torch.nn.CrossEntropyLoss}\n'
    head = 'import torch\nfrom .net import SoftCrossEntropyLoss\n_loss_funs = {"cross_entropy": SoftCrossEntropyLoss}\n'
    one(base, head, "ML599", 3, "CrossEntropyLoss (named, built later)")


def test_an_optimizer_class_held_or_partially_applied_is_an_optimizer_change():
    one("import torch\nopt_cls = torch.optim.Adam\n", "import torch\nopt_cls = torch.optim.SGD\n",
        "ML499", 2, "SGD (named, built later)")
    base = "import torch\nfrom functools import partial\nmake_opt = partial(torch.optim.Adam, lr=1e-3)\n"
    one(base, base.replace("optim.Adam", "optim.SGD"), "ML499", 3, "SGD (named, built later)")


def test_a_class_chosen_by_a_parameter_default_is_its_familys_change():
    base = "import torch\ndef build(model, opt_cls=torch.optim.Adam, lr=1e-3):\n    return opt_cls(model.parameters(), lr=lr)\n"
    one(base, base.replace("torch.optim.Adam", "torch.optim.SGD"), "ML499", 2,
        "build(opt_cls=...) default torch.optim.Adam -> torch.optim.SGD")
    silent(base, base.replace("opt_cls=torch.optim.Adam", "opt_cls = torch.optim.Adam"))


def test_a_class_only_inspected_or_a_respelled_reference_is_silent():
    base = "import torch.nn as nn\ndef is_norm(m):\n    return isinstance(m, nn.BatchNorm2d)\n"
    silent(base, base.replace("isinstance(m, nn.BatchNorm2d)", "isinstance(m, (nn.BatchNorm2d,))"))
    base = "import torch\nimport torch.nn as nn\ncrit_cls = torch.nn.CrossEntropyLoss\n"
    silent(base, base.replace("torch.nn.CrossEntropyLoss", "nn.CrossEntropyLoss"))


def test_a_norm_class_setting_changed_is_reported_once():
    base = "import torch.nn as nn\nfrom functools import partial\nnorm_layer = partial(nn.LayerNorm, eps=1e-6)\n"
    found = findings(base, base.replace("nn.LayerNorm", "nn.BatchNorm2d"))
    assert [(code, line) for code, line, _ in found] == [("ML202", 3)], found


# -- context: a ternary's guard is a condition too ---------------------------------------------------------
_SEEDED = ("import torch\ndef validation(args, device):\n"
           "    generator = torch.Generator(device=device).manual_seed(args.seed) if args.seed else None\n"
           "    return generator\n")


def test_a_call_under_a_ternary_guard_that_now_tests_for_none_is_a_change_of_its_family():
    head = _SEEDED.replace("if args.seed else", "if args.seed is not None else")  # seed 0 is seeded now
    one(_SEEDED, head, "ML799", 3, "seed changed")


def test_a_ternary_guard_reworded_or_a_call_built_on_the_spot_respelled_is_silent():
    silent(_SEEDED, _SEEDED.replace("if args.seed else", "if (args.seed) else"))
    silent(_SEEDED, _SEEDED.replace("torch.Generator(device=device)", "torch.Generator(device = device)"))


def test_norm_settings_named_by_what_they_set_are_normalization():
    base = "from dataclasses import dataclass\n@dataclass\nclass ModelArgs:\n    dim: int = 4096\n    norm_eps: float = 1e-5\n"
    one(base, base.replace("1e-5", "1e-6"), "ML202", 5, "norm_eps 1e-5 -> 1e-6")
    one("batch_norm_momentum = 0.1\n", "batch_norm_momentum = 0.01\n", "ML202", 1, "0.1 -> 0.01")


# -- the object a call builds, now kept where it was dropped ----------------------------------------------
_WARMUP = ("import torch\nimport pytorch_warmup as warmup\ndef build(optimizer, steps):\n    if steps:\n"
           "        warmup.LinearWarmup(optimizer, warmup_period=steps)\n    return optimizer\n")


def test_a_scheduler_built_and_dropped_that_is_now_kept_is_a_learning_rate_change():
    head = _WARMUP.replace("        warmup.Linear", "        warmup_scheduler = warmup.Linear")
    one(_WARMUP, head, "ML399", 5, "LinearWarmup changed")


def test_what_an_operation_returns_now_kept_is_silent():
    base = ("import torch\ndef step(model, optimizer, clip):\n"
            "    torch.nn.utils.clip_grad_norm_(model.parameters(), clip)\n    optimizer.step()\n")
    silent(base, base.replace("    torch.nn.utils.clip", "    grad_norm = torch.nn.utils.clip"))


# -- negatives: a figure reduced across ranks only for the log ----------------------------------------------
_REDUCED = '''import torch
import torch.distributed as dist
def train(model, loader, optimizer, scaler, args):
    for step, (x, y) in enumerate(loader):
        loss = model(x, y)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        if step % args.print_freq == 0:
            dist.reduce(loss.div_(args.world_size), 0)
            stats = dict(step=step, loss=loss.item())
            print(stats)
'''


def test_a_loss_reduced_only_to_be_printed_is_silent_when_dropped():
    silent(_REDUCED, _REDUCED.replace("            dist.reduce(loss.div_(args.world_size), 0)\n", ""))


def test_a_reduce_whose_result_is_trained_on_or_a_gradient_reduced_is_reported():
    base = _REDUCED.replace("        scaler.scale(loss).backward()\n", "")
    head = base.replace("            stats = dict(", "            scaler.scale(loss).backward()\n            stats = dict(")
    moved = findings(base.replace("            dist.reduce(loss.div_(args.world_size), 0)\n", ""), head)
    assert any(code == "ML1299" for code, _, _ in moved), moved   # the reduced loss is backpropagated
    grads = _REDUCED.replace("            dist.reduce(loss.div_(args.world_size), 0)\n",
                             "            for p in model.parameters():\n                dist.all_reduce(p.grad)\n")
    assert any(code.startswith("ML12") for code, _, _ in findings(_REDUCED, grads))


def test_a_torchvision_dataset_reading_other_files_or_another_split_is_a_data_change():
    base = ("import os\nfrom torchvision import datasets\ndef data(args, t):\n"
            "    return datasets.ImageFolder(os.path.join(args.data_path, 'train'), transform=t)\n")
    one(base, base.replace("os.path.join(args.data_path, 'train')", "os.path.join(args.data_path)"),
        "ML1004", 4, "ImageFolder root")
    cifar = "from torchvision import datasets\ntrain_set = datasets.CIFAR10('./data', train=True, download=True)\n"
    one(cifar, cifar.replace("train=True", "train=False"), "ML1004", 2, "CIFAR10 train True -> False")
    silent(cifar, cifar.replace("download=True", "download=False"))


# -- narrower guards: a documented default written out or dropped is the same call ---------------------------
def test_an_explicit_default_written_out_or_dropped_is_silent_and_another_value_is_not():
    base = ("import torch.nn as nn\nclass M(nn.Module):\n    def __init__(self, c):\n        super().__init__()\n"
            "        self.bn = nn.BatchNorm1d(c, affine=True)\n")
    silent(base, base.replace(", affine=True", ""))
    silent(base, base.replace(", affine=True", ", eps=1e-05, affine=True"))
    one(base, base.replace("affine=True", "affine=False"), "ML202", 5, "affine True -> False")
    adamw = "import torch\nopt = torch.optim.AdamW(params, lr=1e-3)\n"
    silent(adamw, adamw.replace("lr=1e-3", "lr=1e-3, weight_decay=0.01"))
    one(adamw, adamw.replace("lr=1e-3", "lr=1e-3, weight_decay=0.05"), "ML402", 2, "weight_decay set to 0.05")
    one("zero_init_residual = False\n", "zero_init_residual = True\n", "ML202", 1, "zero_init_residual False -> True")


# -- the purpose of a class, and of a function by where its result goes ---------------------------------
LOSS_CLASS = '''import torch
import torch.nn as nn

class GraphLoss(nn.Module):
    """Cross-entropy weighted by a graph."""
    def __init__(self, temp=0.1):
        super().__init__()
        self.temp = temp

    def forward(self, s, t, graph):
        h = -(s @ t.t()) / self.temp
        total = (graph * h).sum() / graph.sum()
        return total
'''


def test_a_line_of_a_loss_class_that_calls_nothing_known_is_a_loss_change():
    head = LOSS_CLASS.replace("/ graph.sum()", "/ len(s)")
    one(LOSS_CLASS, head, "ML599", 12, "the loss GraphLoss computes changed")
    # the class's base says it too: a subclass of torch's own loss base
    based = LOSS_CLASS.replace("class GraphLoss(nn.Module)", "class Graph(nn.modules.loss._Loss)")
    one(based, based.replace("/ graph.sum()", "/ len(s)"), "ML599", 12, "the loss Graph computes changed")


def test_a_loss_class_reworded_or_a_model_class_changed_is_silent():
    silent(LOSS_CLASS, LOSS_CLASS.replace("Cross-entropy weighted by a graph.", "Graph-weighted CE.")
           .replace("return total", "return total  # scalar"))
    silent(LOSS_CLASS, LOSS_CLASS.replace("total", "loss"))  # a local renamed throughout
    model = LOSS_CLASS.replace("GraphLoss", "GraphHead")     # a module of the model: not a loss
    silent(model, model.replace("/ graph.sum()", "/ len(s)"))


def test_a_line_of_an_optimizer_or_scheduler_class_is_that_operation():
    base = '''import torch

class Lion(torch.optim.Optimizer):
    def step(self):
        for group in self.param_groups:
            for p in group["params"]:
                update = p.grad.sign()
                p.data.add_(update, alpha=-group["lr"])
'''
    one(base, base.replace("p.grad.sign()", "p.grad.sign() * 0.5"), "ML499", 7, "the update rule of Lion changed")
    sched = '''from torch.optim.lr_scheduler import LRScheduler

class Warmup(LRScheduler):
    def ramp(self):
        scale = min(1.0, self.last_epoch / 100)
        return scale

    def get_lr(self):
        return [base * self.ramp() for base in self.base_lrs]
'''  # (``get_lr`` itself is the specific rule's, ML302: a schedule function by its name)
    one(sched, sched.replace("/ 100", "/ 500"), "ML399", 5, "the schedule Warmup computes changed")


SCHEDULE_TABLE = '''import numpy as np

def cosine_table(base, final, epochs, warmup_epochs=0):
    warmup = np.array([])
    if warmup_epochs > 0:
        warmup = np.linspace(0, base, warmup_epochs)
    return np.concatenate((warmup, np.full(epochs, final)))

def train(model, optimizer, loader, args):
    values = cosine_table(args.base, 1e-6, args.epochs, args.warmup)
    for it, (x, y) in enumerate(loader):
        for group in optimizer.param_groups:
            group["lr"] = values[it]
        model(x).sum().backward()
        optimizer.step()
'''


def test_a_function_whose_result_becomes_the_learning_rate_is_a_schedule():
    one(SCHEDULE_TABLE, SCHEDULE_TABLE.replace("warmup_epochs > 0", "warmup_epochs > 1"), "ML399", 5,
        "the schedule cosine_table() computes changed")


def test_a_function_that_is_one_factor_of_the_rate_is_not_a_schedule():
    base = SCHEDULE_TABLE.replace('group["lr"] = values[it]', 'group["lr"] = args.lr * values.mean()')
    silent(base, base.replace("warmup_epochs > 0", "warmup_epochs > 1"))


def test_a_loop_vectorised_with_numpy_is_the_same_schedule_and_a_changed_formula_is_not():
    base = SCHEDULE_TABLE.replace(
        "    return np.concatenate((warmup, np.full(epochs, final)))",
        "    iters = np.arange(epochs)\n"
        "    cosine = np.array([final + 0.5 * (base - final) * (1 + math.cos(math.pi * i / len(iters))) for i in iters])\n"
        "    return np.concatenate((warmup, cosine))").replace("import numpy as np", "import math\nimport numpy as np")
    vectorised = base.replace(
        "np.array([final + 0.5 * (base - final) * (1 + math.cos(math.pi * i / len(iters))) for i in iters])",
        "final + 0.5 * (base - final) * (1 + np.cos(np.pi * iters / len(iters)))")
    silent(base, vectorised)
    one(base, vectorised.replace("np.pi * iters", "np.pi * 0.5 * iters"), "ML304", 9, "cosine_table.cosine np.array(")
