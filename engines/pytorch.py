"""ftbench's PyTorch engine: trains and answers one prepared cell with PyTorch + transformers +
PEFT + bitsandbytes, so the same cell can be compared against ftbench's own engine.

Usage: python engines/pytorch.py JOB.json

The job (JSON), the events this program writes on stdout (one JSON object per line) and the
answers file are specified in engines/PROTOCOL.md (protocol version 1). The engine never
tokenizes, picks items or scores: it trains on the given token batches with the given per-step
learning rates and answers the given evaluation requests; ftbench scores the answers.
Everything else (library logs, warnings) goes to stderr.

The libraries run as their users run them, defaults included. One default shows in the numbers:
bitsandbytes 0.50's CPU 4-bit linear casts its input to bf16 wherever no gradient flows through
it (backends/cpu/ops.py `gemm_4bit`: in training, the first layer's projections, whose input is
the frozen embedding's output). QLoRA's training losses on this engine carry that rounding;
ftbench's own NF4 linears compute in f32. The one default changed is its eval-mode repacking on
AVX512-BF16 CPUs, which crashes on some shapes (see keep_nf4_numerics).
"""

import contextlib
import importlib.metadata
import inspect
import json
import math
import os
import platform
import sys
import time
import traceback

# The engine never needs the Hugging Face Hub (the model and the adapter are local): stay offline,
# which also keeps bitsandbytes from fetching CPU kernels at import.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

try:
    import torch
    import transformers
    import peft
    import peft.optimizers
except ImportError as _e:  # reported as a failed event by main()
    torch = None
    _IMPORT_ERROR = _e

PROTOCOL = 1
# Rows of logits (× vocab) taken to f64 at once when scoring: 4M values, 32 MB.
SCORE_CHUNK_VALUES = 4 << 20

# What each method name means; the job's method flags must agree.
METHODS = {
    "base": dict(trains=False, trains_base=False, adapters=False, nf4=False, dora=False),
    "full": dict(trains=True, trains_base=True, adapters=False, nf4=False, dora=False),
    "lora": dict(trains=True, trains_base=False, adapters=True, nf4=False, dora=False),
    "dora": dict(trains=True, trains_base=False, adapters=True, nf4=False, dora=True),
    "qlora": dict(trains=True, trains_base=False, adapters=True, nf4=True, dora=False),
    "qdora": dict(trains=True, trains_base=False, adapters=True, nf4=True, dora=True),
    "lora-plus": dict(trains=True, trains_base=False, adapters=True, nf4=False, dora=False),
}
PRECISIONS = ("f32", "bf16-mixed", "bf16")
OPTIMIZERS = ("adamw", "adamw-8bit")
NULLABLE = ("adapter_init_dir", "nf4", "inference", "adapter_out")
NF4_BLOCK_SIZE = 64  # what transformers' bitsandbytes 4-bit linears use
# adapter_config.json `init_lora_weights` values the engine loads: these leave the base as it is and
# the file's A and B replace the draws. PiSSA ("pissa", "pissa_niter_N") is checked apart: PEFT
# redoes its SVD at load and rebuilds the residual base, which it can only do on a dense base.
LORA_INITS = (True, False, "gaussian")


class BadInput(Exception):
    """A job or model file that is missing or malformed."""

    def __init__(self, message, file=None, key=None):
        super().__init__(message)
        self.file, self.key = file, key


class Unsupported(Exception):
    """A setting this engine cannot run (`key` names the knob): refused, never approximated."""

    def __init__(self, key, message):
        super().__init__(message)
        self.key = key


# ---------------------------------------------------------------------------------------------
# Events, memory, versions


class Events:
    """The event stream: the process's original stdout. Anything else printing to stdout (a
    library) is sent to stderr instead, so stdout carries events only."""

    def __init__(self):
        sys.stdout.flush()
        self.out = os.fdopen(os.dup(1), "w", buffering=1)
        os.dup2(2, 1)

    def emit(self, event, **fields):
        self.out.write(json.dumps({"event": event, **fields}, allow_nan=False) + "\n")
        self.out.flush()


def proc_status_bytes(field):
    """VmRSS / VmHWM from /proc/self/status in bytes; None where there is no /proc."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def rss():
    return proc_status_bytes("VmRSS")


def versions():
    out = {"python": platform.python_version()}
    for lib in ("torch", "transformers", "peft", "bitsandbytes", "safetensors"):
        try:
            out[lib] = importlib.metadata.version(lib)
        except importlib.metadata.PackageNotFoundError:
            out[lib] = "absent"
    return out


def log(msg):
    print(f"pytorch engine: {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# The job


def read_job(path):
    try:
        with open(path) as f:
            job = json.load(f)
    except (OSError, ValueError) as e:
        raise BadInput(f"cannot read the job {path}: {e}", file=path)
    if not isinstance(job, dict):
        raise BadInput(f"the job {path} is not a JSON object", file=path)
    return job


def need(obj, key, where, kind, nullable=False):
    """obj[key], checked to be of `kind` (int, num, bool, str, list, dict); a missing key or a wrong
    type is bad input naming `where.key`."""
    name = f"{where}.{key}" if where else key
    if not isinstance(obj, dict) or (key not in obj and not nullable):
        raise BadInput(f"job: missing `{name}`", key=name)
    v = obj.get(key)
    if v is None and nullable:
        return None
    ok = {
        "int": isinstance(v, int) and not isinstance(v, bool),
        "num": isinstance(v, (int, float)) and not isinstance(v, bool),
        "bool": isinstance(v, bool),
        "str": isinstance(v, str),
        "list": isinstance(v, list),
        "dict": isinstance(v, dict),
    }[kind]
    if not ok:
        raise BadInput(f"job: `{name}` should be {kind}{' or null' if nullable else ''}, got {v!r}", key=name)
    return v


def is_token_id(t):
    return isinstance(t, int) and not isinstance(t, bool) and t >= 0


def check_ids(ids, name, allow_empty=False):
    if not isinstance(ids, list) or not all(map(is_token_id, ids)):
        raise BadInput(f"job: `{name}` should be a list of token ids", key=name)
    if not ids and not allow_empty:
        raise BadInput(f"job: `{name}` is empty", key=name)


def check_example(ex, name):
    tokens = need(ex, "tokens", name, "list")
    mask = need(ex, "loss_mask", name, "list")
    check_ids(tokens, f"{name}.tokens")
    if not all(isinstance(m, bool) for m in mask):
        raise BadInput(f"job: `{name}.loss_mask` should be a list of booleans", key=f"{name}.loss_mask")
    if len(tokens) != len(mask) + 1 or not mask:
        raise BadInput(
            f"job: `{name}` has {len(tokens)} tokens and {len(mask)} loss_mask entries "
            "(expected n+1 and n, n ≥ 1)",
            key=name,
        )


def check_method(job):
    m = need(job, "method", "", "dict")
    name = need(m, "name", "method", "str")
    if name not in METHODS:
        raise Unsupported("method", f"method `{name}`: the pytorch engine runs {', '.join(METHODS)}")
    for flag, want in METHODS[name].items():
        if need(m, flag, "method", "bool") != want:
            msg = f"job: method `{name}` has `{flag}` {want}, the job says otherwise"
            raise BadInput(msg, key=f"method.{flag}")
    ratio = need(m, "lora_plus_ratio", "method", "num", nullable=True)
    if name == "lora-plus" and ratio is None:
        raise BadInput("job: lora-plus needs `method.lora_plus_ratio`", key="method.lora_plus_ratio")
    if METHODS[name]["adapters"] and need(job, "adapter_init_dir", "", "str", nullable=True) is None:
        raise BadInput(f"job: method `{name}` needs `adapter_init_dir`", key="adapter_init_dir")


def check_settings(job):
    for key in NULLABLE:  # absent reads as null
        job.setdefault(key, None)
    if need(job, "protocol", "", "int") != PROTOCOL:
        raise BadInput(f"job: protocol {job['protocol']}, this engine speaks {PROTOCOL}", key="protocol")
    for key, kind in (("model_dir", "str"), ("threads", "int"), ("seed", "int"), ("recompute", "bool"),
                      ("max_grad_norm", "num"), ("answers_out", "str")):
        need(job, key, "", kind)
    need(job, "adapter_out", "", "str", nullable=True)
    device = need(job, "device", "", "str")
    if device != "cpu" and not device.startswith("cuda"):
        raise Unsupported("device", f"device `{device}`: the pytorch engine runs on cpu or cuda:N")
    precision = need(job, "precision", "", "str")
    if precision not in PRECISIONS:
        raise Unsupported("precision", f"precision `{precision}`: the pytorch engine runs {', '.join(PRECISIONS)}")
    check_method(job)
    check_optimizer(job)
    check_nf4(job)


def check_optimizer(job):
    opt = need(job, "optimizer", "", "dict")
    name = need(opt, "name", "optimizer", "str")
    if name not in OPTIMIZERS:
        raise Unsupported("optimizer", f"optimizer `{name}`: the pytorch engine runs {', '.join(OPTIMIZERS)}")
    for key in ("beta1", "beta2", "eps", "weight_decay"):
        need(opt, key, "optimizer", "num")


def check_nf4(job):
    nf4 = need(job, "nf4", "", "dict", nullable=True)
    if not METHODS[job["method"]["name"]]["nf4"]:
        return
    if nf4 is None:
        raise BadInput(f"job: method `{job['method']['name']}` needs `nf4`", key="nf4")
    block = need(nf4, "block_size", "nf4", "int")
    need(nf4, "double_quant", "nf4", "bool")
    if block != NF4_BLOCK_SIZE:
        raise Unsupported(
            "nf4_block_size",
            f"NF4 block size {block}: transformers' bitsandbytes 4-bit linears quantize in blocks of "
            f"{NF4_BLOCK_SIZE}",
        )


def check_steps(job):
    steps = need(job, "steps", "", "list")
    if steps and not job["method"]["trains"]:
        msg = f"job: method `{job['method']['name']}` does not train, but the job has {len(steps)} steps"
        raise BadInput(msg, key="steps")
    for i, step in enumerate(steps):
        need(step, "lr", f"steps[{i}]", "num")
        micro = need(step, "micro", f"steps[{i}]", "list")
        if not micro:
            raise BadInput(f"job: `steps[{i}].micro` is empty", key=f"steps[{i}].micro")
        for j, mb in enumerate(micro):
            where = f"steps[{i}].micro[{j}]"
            examples = need(mb, "examples", where, "list")
            if not examples:
                raise BadInput(f"job: `{where}.examples` is empty", key=f"{where}.examples")
            for k, ex in enumerate(examples):
                check_example(ex, f"{where}.examples[{k}]")


def check_eval(job):
    ev = need(job, "eval", "", "dict")
    if need(ev, "batch_size", "eval", "int") < 1:
        raise BadInput("job: `eval.batch_size` should be ≥ 1", key="eval.batch_size")
    need(ev, "max_new_tokens", "eval", "int")
    check_ids(need(ev, "eos", "eval", "list"), "eval.eos", allow_empty=True)
    for i, ex in enumerate(need(ev, "forced", "eval", "list")):
        check_example(ex, f"eval.forced[{i}]")
    for i, req in enumerate(need(ev, "choice", "eval", "list")):
        check_ids(need(req, "ctx", f"eval.choice[{i}]", "list"), f"eval.choice[{i}].ctx")
        for j, cont in enumerate(need(req, "conts", f"eval.choice[{i}]", "list")):
            check_ids(cont, f"eval.choice[{i}].conts[{j}]", allow_empty=True)
    for i, req in enumerate(need(ev, "generate", "eval", "list")):
        check_ids(need(req, "ctx", f"eval.generate[{i}]", "list"), f"eval.generate[{i}].ctx")
    inf = need(job, "inference", "", "dict", nullable=True)
    if inf is not None:
        check_ids(need(inf, "prompt", "inference", "list"), "inference.prompt")
        for key in ("new_tokens", "repeats"):
            if need(inf, key, "inference", "int") < 1:
                raise BadInput(f"job: `inference.{key}` should be ≥ 1", key=f"inference.{key}")


def all_token_lists(job):
    """(name, ids) of every token list in the job, for the vocabulary check."""
    for i, step in enumerate(job["steps"]):
        for j, mb in enumerate(step["micro"]):
            for k, ex in enumerate(mb["examples"]):
                yield f"steps[{i}].micro[{j}].examples[{k}].tokens", ex["tokens"]
    ev = job["eval"]
    for i, ex in enumerate(ev["forced"]):
        yield f"eval.forced[{i}].tokens", ex["tokens"]
    for i, req in enumerate(ev["choice"]):
        yield f"eval.choice[{i}].ctx", req["ctx"]
        for j, cont in enumerate(req["conts"]):
            yield f"eval.choice[{i}].conts[{j}]", cont
    for i, req in enumerate(ev["generate"]):
        yield f"eval.generate[{i}].ctx", req["ctx"]
    if job["inference"] is not None:
        yield "inference.prompt", job["inference"]["prompt"]


def check_vocab(job, vocab):
    for name, ids in all_token_lists(job):
        if ids and max(ids) >= vocab:
            msg = f"job: `{name}` holds token id {max(ids)}, the model's vocabulary has {vocab}"
            raise BadInput(msg, key=name)


# ---------------------------------------------------------------------------------------------
# Files on disk


def read_json_file(path):
    """A JSON file; a missing or malformed one is bad input naming it."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise BadInput(f"cannot read {path}: {e}", file=path)


def check_model_dir(model_dir):
    if not os.path.isdir(model_dir):
        raise BadInput(f"model directory {model_dir} does not exist", file=model_dir, key="model_dir")
    cfg_path = os.path.join(model_dir, "config.json")
    cfg = read_json_file(cfg_path)
    if not any(n.endswith(".safetensors") for n in os.listdir(model_dir)):
        raise BadInput(f"{model_dir} holds no *.safetensors weights", file=model_dir)
    model_type = cfg.get("model_type")
    if model_type not in transformers.CONFIG_MAPPING:
        raise Unsupported("model", f"model_type `{model_type}` ({cfg_path}) is not one transformers knows")


def read_adapter_config(adapter_dir, method):
    cfg_path = os.path.join(adapter_dir, "adapter_config.json")
    cfg = read_json_file(cfg_path)
    weights = os.path.join(adapter_dir, "adapter_model.safetensors")
    if not os.path.isfile(weights):
        raise BadInput(f"{weights} does not exist", file=weights)
    if bool(cfg.get("use_dora", False)) != METHODS[method]["dora"]:
        msg = f"{cfg_path}: use_dora is {cfg.get('use_dora')} for method `{method}`"
        raise BadInput(msg, file=cfg_path, key="use_dora")
    check_lora_init(cfg.get("init_lora_weights", True), METHODS[method]["nf4"], cfg_path)
    return cfg


def check_lora_init(init, nf4, cfg_path):
    pissa = isinstance(init, str) and init.startswith("pissa")
    if not pissa and init not in LORA_INITS:
        msg = f"{cfg_path}: init_lora_weights {init!r} is not one the pytorch engine loads"
        raise Unsupported("lora_init", msg)
    if pissa and nf4:
        raise Unsupported(
            "lora_init",
            "PiSSA over an NF4 base: PEFT runs PiSSA's SVD on a dense base only (pissa_init raises on a "
            "bitsandbytes 4-bit weight), so the residual base cannot be rebuilt at load",
        )


# ---------------------------------------------------------------------------------------------
# The model and the method


def precision_dtypes(precision, trains_base):
    """(dtype the model loads in, dtype of the trainable weights)."""
    if precision == "f32":
        return torch.float32, torch.float32
    if precision == "bf16-mixed":
        # Trainable weights stay f32 (so a full fine-tune loads f32); frozen dense weights are bf16.
        return (torch.float32 if trains_base else torch.bfloat16), torch.float32
    return torch.bfloat16, torch.bfloat16


def load_base(job, device):
    method = METHODS[job["method"]["name"]]
    load_dtype, _ = precision_dtypes(job["precision"], method["trains_base"])
    # Loaded straight onto the device; eager attention: ftbench's reference numerics (and Gemma's).
    kwargs = dict(dtype=load_dtype, attn_implementation="eager", device_map={"": str(device)})
    if method["nf4"]:
        compute = torch.float32 if job["precision"] == "f32" else torch.bfloat16
        kwargs["quantization_config"] = transformers.BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=job["nf4"]["double_quant"],
            bnb_4bit_compute_dtype=compute,
        )
    try:
        model = transformers.AutoModelForCausalLM.from_pretrained(job["model_dir"], **kwargs)
    except OSError as e:
        raise BadInput(f"cannot load the model in {job['model_dir']}: {e}", file=job["model_dir"])
    return model


def keep_nf4_numerics(model):
    """bitsandbytes 0.50's CPU Linear4bit switches, in eval mode on AVX512-BF16 CPUs, to a
    repacked weight and a bf16 kernel (the input cast to bf16). The repacking fails on weights
    whose shape its packing does not divide (`shape '[64, 2]' is invalid for input of size 160`
    on a 160-wide MLP), so evaluation would crash on such models: keep the path training takes
    (dequantize, then matmul in the compute dtype) in evaluation too."""
    n = 0
    for module in model.modules():
        if hasattr(module, "support_avx512bf16_for_cpu"):
            module.support_avx512bf16_for_cpu = False
            n += 1
    return n


def enable_recompute(model):
    """Gradient checkpointing of every decoder layer, non-reentrant (transformers 5.2x names it
    activation checkpointing; gradient_checkpointing_enable is its deprecated alias)."""
    kwargs = {"use_reentrant": False}
    if hasattr(model, "activation_checkpointing_enable"):
        model.activation_checkpointing_enable(activation_checkpointing_kwargs=kwargs)
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)


def attach_method(job, model):
    """The model as it trains: PEFT adapters from adapter_init_dir, or the whole model trainable
    (full), or nothing (base)."""
    method = METHODS[job["method"]["name"]]
    _, master = precision_dtypes(job["precision"], method["trains_base"])
    if job["recompute"] and method["trains"]:
        enable_recompute(model)
    if not method["adapters"]:
        for p in model.parameters():
            p.requires_grad_(method["trains_base"])
        return model
    read_adapter_config(job["adapter_init_dir"], job["method"]["name"])
    adapter_dir = job["adapter_init_dir"]
    try:
        model = peft.PeftModel.from_pretrained(model, adapter_dir, is_trainable=True)
    except (OSError, ValueError) as e:
        raise BadInput(f"cannot load the adapter in {adapter_dir}: {e}", file=adapter_dir)
    for p in model.parameters():
        if p.requires_grad and p.dtype != master:
            p.data = p.data.to(master)
    return model


def class_name(obj):
    return f"{type(obj).__module__}.{type(obj).__name__}"


def describe_base_linear(model):
    """The first adapted linear and its classes (QLoRA: bitsandbytes' Linear4bit underneath)."""
    for name, module in model.named_modules():
        base = getattr(module, "base_layer", None)
        if base is not None:
            return f"{name}: {class_name(module)} over {class_name(base)}"
    return "no adapted linears"


def param_counts(model):
    """(total, trainable) as PEFT's print_trainable_parameters counts them (an NF4 weight: its
    logical elements)."""
    if isinstance(model, peft.PeftModel):
        trainable, total = model.get_nb_trainable_parameters()
        return total, trainable
    params = list(model.parameters())
    return sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)


# ---------------------------------------------------------------------------------------------
# The optimizer


def optimizer_class(name):
    if name == "adamw":
        return torch.optim.AdamW
    import bitsandbytes

    return bitsandbytes.optim.AdamW8bit


def build_optimizer(job, model, params):
    """(optimizer, each param group's ratio to the step's lr). Groups are built at lr 1 and
    every update sets lr × ratio: LoRA+'s B groups keep loraplus_lr_ratio (its embedding group's
    absolute 1e-6 becomes a ratio, but ftbench never adapts embeddings, so that group is empty)."""
    o = job["optimizer"]
    cls = optimizer_class(o["name"])
    hyper = dict(betas=(o["beta1"], o["beta2"]), eps=o["eps"])
    if job["method"]["name"] == "lora-plus":
        opt = peft.optimizers.create_loraplus_optimizer(
            model, cls, lr=1.0, loraplus_lr_ratio=job["method"]["lora_plus_ratio"],
            loraplus_weight_decay=o["weight_decay"], **hyper,
        )
    else:
        opt = cls([{"params": params}], lr=1.0, weight_decay=o["weight_decay"], **hyper)
    return opt, [g["lr"] for g in opt.param_groups]


def state_dtype(job, opt, params):
    """The optimizer state's storage, as ftbench's records name it."""
    if job["optimizer"]["name"] == "adamw":
        return "f32" if all(p.dtype == torch.float32 for p in params) else "bf16"
    min_8bit = getattr(getattr(opt, "args", None), "min_8bit_size", 4096)
    small = sum(1 for p in params if p.numel() < min_8bit)
    if small == len(params):
        return "f32"
    return "8-bit blockwise" if small == 0 else f"8-bit blockwise + f32 for {small} small tensors"


# ---------------------------------------------------------------------------------------------
# Training


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def autocast(job, device):
    if job["precision"] == "bf16-mixed":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def batch_tensors(examples, device):
    """(inputs, targets, loss mask), each (batch, longest n), padded at the end with token 0."""
    n = max(len(ex["loss_mask"]) for ex in examples)
    inputs = torch.zeros((len(examples), n), dtype=torch.long)
    targets = torch.zeros((len(examples), n), dtype=torch.long)
    mask = torch.zeros((len(examples), n), dtype=torch.bool)
    for b, ex in enumerate(examples):
        m = len(ex["loss_mask"])
        inputs[b, :m] = torch.tensor(ex["tokens"][:-1])
        targets[b, :m] = torch.tensor(ex["tokens"][1:])
        mask[b, :m] = torch.tensor(ex["loss_mask"])
    return inputs.to(device), targets.to(device), mask.to(device)


def micro_loss(job, model, examples, device):
    """Mean cross-entropy (f32) over the micro-batch's loss positions."""
    inputs, targets, mask = batch_tensors(examples, device)
    with autocast(job, device):
        logits = model(input_ids=inputs, use_cache=False).logits
    return torch.nn.functional.cross_entropy(logits[mask].float(), targets[mask])


def clip_grads(params, max_norm):
    """The global gradient norm before clipping (each tensor's norm in f64, their squares summed;
    one host sync); clips in place."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return 0.0
    squares = [torch.linalg.vector_norm(g, dtype=torch.float64).square() for g in grads]
    norm = math.sqrt(float(torch.stack(squares).sum()))
    if max_norm > 0 and norm > max_norm:
        scale = max_norm / (norm + 1e-6)
        for g in grads:
            g.mul_(scale)
    return norm


def train_step(job, model, opt, ratios, params, step, device):
    """One update; returns (mean micro loss, grad norm, seconds)."""
    sync(device)
    t0 = time.perf_counter()
    micro = step["micro"]
    losses = []
    for mb in micro:
        loss = micro_loss(job, model, mb["examples"], device)
        (loss / len(micro)).backward()
        losses.append(float(loss.detach()))
    norm = clip_grads(params, job["max_grad_norm"])
    for group, ratio in zip(opt.param_groups, ratios):
        group["lr"] = step["lr"] * ratio
    opt.step()
    opt.zero_grad(set_to_none=True)
    sync(device)
    return sum(losses) / len(losses), norm, time.perf_counter() - t0


def train(job, ev, model, opt, ratios, params, device):
    torch.manual_seed(job["seed"])
    model.train()
    for i, step in enumerate(job["steps"], start=1):
        loss, norm, secs = train_step(job, model, opt, ratios, params, step, device)
        if not math.isfinite(loss):
            raise RuntimeError(f"loss is not finite ({loss}) at step {i}")
        if not math.isfinite(norm):
            raise RuntimeError(f"gradient norm is not finite ({norm}) at step {i}")
        tokens = sum(len(ex["loss_mask"]) for mb in step["micro"] for ex in mb["examples"])
        ev.emit("step", step=i, loss=loss, lr=step["lr"], grad_norm=norm, secs=secs, tokens=tokens,
                rss_bytes=rss())
        if i == 1:
            ev.emit("engine_optimizer_state", bytes=optimizer_state_bytes(opt))


def optimizer_state_bytes(opt):
    """Bytes of every tensor the optimizer keeps (its state is made at the first update):
    moments, 8-bit codes and their block constants."""
    return sum(t.numel() * t.element_size() for state in opt.state.values() for t in state.values()
               if torch.is_tensor(t))


# ---------------------------------------------------------------------------------------------
# Evaluation


def score_rows(logits, targets):
    """(summed log-prob in f64, argmax hits) of `targets` under logit rows (k, vocab), taken to
    f64 a few million values at a time."""
    total, hits = 0.0, 0
    step = max(1, SCORE_CHUNK_VALUES // logits.shape[-1])
    for s in range(0, logits.shape[0], step):
        rows, tgt = logits[s : s + step].double(), targets[s : s + step]
        logp = torch.log_softmax(rows, dim=-1)
        total += float(logp.gather(1, tgt[:, None]).sum())
        hits += int((rows.argmax(dim=-1) == tgt).sum())
    return total, hits


def eval_forced(job, model, device):
    ev, out = job["eval"], []
    bs = ev["batch_size"]
    for s in range(0, len(ev["forced"]), bs):
        examples = ev["forced"][s : s + bs]
        inputs, targets, mask = batch_tensors(examples, device)
        with autocast(job, device):
            logits = model(input_ids=inputs, use_cache=False).logits
        for b in range(len(examples)):
            logp, hits = score_rows(logits[b][mask[b]], targets[b][mask[b]])
            out.append({"nll": -logp, "tokens": int(mask[b].sum()), "hits": hits})
    return out


def eval_choice_request(job, model, req, device):
    """Per continuation: one forward over ctx + cont[:-1], continuations batched (right padding)."""
    ctx, conts, bs = req["ctx"], req["conts"], job["eval"]["batch_size"]
    out = [{"logprob": 0.0, "tokens": 0, "greedy_hits": 0} for _ in conts]
    scored = [j for j, c in enumerate(conts) if c]
    for s in range(0, len(scored), bs):
        idx = scored[s : s + bs]
        seqs = [ctx + conts[j][:-1] for j in idx]
        inputs = torch.zeros((len(seqs), max(map(len, seqs))), dtype=torch.long)
        for b, seq in enumerate(seqs):
            inputs[b, : len(seq)] = torch.tensor(seq)
        with autocast(job, device):
            logits = model(input_ids=inputs.to(device), use_cache=False).logits
        for b, j in enumerate(idx):
            cont = conts[j]
            rows = logits[b, len(ctx) - 1 : len(ctx) - 1 + len(cont)]
            logp, hits = score_rows(rows, torch.tensor(cont, device=device))
            out[j] = {"logprob": logp, "tokens": len(cont), "greedy_hits": hits}
    return out


def cache_argument(model):
    """The forward's KV-cache keyword: `cache` (transformers 5.2x), `past_key_values` before."""
    hf = model.get_base_model() if isinstance(model, peft.PeftModel) else model
    return "cache" if "cache" in inspect.signature(type(hf).forward).parameters else "past_key_values"


def returned_cache(out):
    cache = out.get("cache")
    return cache if cache is not None else out.get("past_key_values")


def greedy(job, model, ctx, max_new, eos, device):
    """Greedy decoding with a KV cache: (new ids, ended on eos, prefill s, decode s)."""
    if max_new <= 0:
        return [], False, 0.0, 0.0
    ids, ended, cache_arg = [], False, cache_argument(model)
    with autocast(job, device):
        sync(device)
        t0 = time.perf_counter()
        out = model(input_ids=torch.tensor([ctx], device=device), use_cache=True, logits_to_keep=1)
        tok = int(out.logits[0, -1].argmax())
        t1 = time.perf_counter()
        while True:
            if tok in eos:
                ended = True
                break
            ids.append(tok)
            if len(ids) >= max_new:
                break
            step_in = torch.tensor([[tok]], device=device)
            past = {cache_arg: returned_cache(out)}
            out = model(input_ids=step_in, use_cache=True, logits_to_keep=1, **past)
            tok = int(out.logits[0, -1].argmax())
        sync(device)
        t2 = time.perf_counter()
    return ids, ended, t1 - t0, t2 - t1


def evaluate(job, model, device):
    ev = job["eval"]
    model.eval()
    with torch.no_grad():
        forced = eval_forced(job, model, device)
        choice = [eval_choice_request(job, model, req, device) for req in ev["choice"]]
        generate = []
        for req in ev["generate"]:
            ids, ended, pre, dec = greedy(job, model, req["ctx"], ev["max_new_tokens"], set(ev["eos"]), device)
            generate.append({"ids": ids, "eos": ended, "prefill_s": pre, "decode_s": dec})
    return {"forced": forced, "choice": choice, "generate": generate}


def write_answers(path, answers):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(answers, f, allow_nan=False)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------
# Inference speed


def speed_of(job, model, device):
    """(prefill tokens/s, decode tokens/s): medians (the upper one for an even count) of greedy
    batch-1 runs to new_tokens, no eos stop."""
    inf = job["inference"]
    prompt, new = inf["prompt"], inf["new_tokens"]
    pre, dec = [], []
    model.eval()
    with torch.no_grad():
        for _ in range(inf["repeats"]):
            ids, _, pre_s, dec_s = greedy(job, model, prompt, new, set(), device)
            pre.append(len(prompt) / max(pre_s, 1e-9))
            dec.append((len(ids) - 1) / max(dec_s, 1e-9))
    return sorted(pre)[len(pre) // 2], sorted(dec)[len(dec) // 2]


def inference_speed(job, model, device):
    """As trained, then (dense adapters only) merged in place: run last, after everything else."""
    inf = job["inference"]
    prefill, decode = speed_of(job, model, device)
    method = METHODS[job["method"]["name"]]
    merged = (None, None)
    if method["adapters"] and not method["nf4"]:
        model = model.merge_and_unload()
        merged = speed_of(job, model, device)
    return {
        "prompt_tokens": len(inf["prompt"]), "new_tokens": inf["new_tokens"], "repeats": inf["repeats"],
        "prefill_tokens_per_s": prefill, "decode_tokens_per_s": decode,
        "merged_prefill_tokens_per_s": merged[0], "merged_decode_tokens_per_s": merged[1],
    }


# ---------------------------------------------------------------------------------------------
# The run


def cuda_pool(device):
    """PyTorch's caching allocator, in the shape of ftbench's pool readings: live bytes now and
    their high-water mark since the last reset, reserved bytes likewise."""
    if device.type != "cuda":
        return {}
    return {"cuda": {"used_bytes": torch.cuda.memory_allocated(device),
                     "used_high_bytes": torch.cuda.max_memory_allocated(device),
                     "reserved_bytes": torch.cuda.memory_reserved(device),
                     "reserved_high_bytes": torch.cuda.max_memory_reserved(device)}}


def reset_peaks(device):
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def open_device(job):
    device = torch.device(job["device"])
    if device.type == "cuda" and not torch.cuda.is_available():
        raise Unsupported("device", f"device `{job['device']}`: this torch sees no CUDA device")
    if job["threads"] > 0:
        torch.set_num_threads(job["threads"])
    torch.manual_seed(job["seed"])
    return device


def ran(job, device, params):
    method = METHODS[job["method"]["name"]]
    _, master = precision_dtypes(job["precision"], method["trains_base"])
    bf16 = job["precision"] != "f32"
    return {
        "device": str(device) if device.type == "cpu" else f"{device} ({torch.cuda.get_device_name(device)})",
        "compute_dtype": "bf16" if bf16 else "f32",
        "precision": job["precision"],
        "master_dtype": "bf16" if master == torch.bfloat16 else "f32",
        "frozen_dtype": "bf16" if bf16 else "f32",
        "optimizer": job["optimizer"]["name"] if method["trains"] else "none",
        "optimizer_state_dtype": "none",
        "fused_ops": False,
        "recompute": bool(job["recompute"] and method["trains"]),
    }


def load(job, ev, device):
    """Model, method and optimizer; emits engine_loaded. Returns (model, optimizer, ratios, params)."""
    t0 = time.perf_counter()
    check_model_dir(job["model_dir"])
    model = attach_method(job, load_base(job, device))
    check_vocab(job, model.get_input_embeddings().num_embeddings)
    if METHODS[job["method"]["name"]]["nf4"]:
        log(f"{keep_nf4_numerics(model)} bitsandbytes 4-bit linears kept on the dequantize-and-matmul path in evaluation")
    log(f"method {job['method']['name']}: {describe_base_linear(model)}")
    params = [p for p in model.parameters() if p.requires_grad]
    opt, ratios, info = None, [], ran(job, device, params)
    if job["method"]["trains"]:
        opt, ratios = build_optimizer(job, model, params)
        info["optimizer_state_dtype"] = state_dtype(job, opt, params)
    total, trainable = param_counts(model)
    ev.emit("engine_loaded", load_s=time.perf_counter() - t0, rss_bytes=rss(), params_total=total,
            params_trainable=trainable, ran=info, **cuda_pool(device))
    # Training's peaks count from here, as ftbench's pool readings do.
    reset_peaks(device)
    return model, opt, ratios, params


def run(job_path, ev):
    job = read_job(job_path)
    check_settings(job)
    check_steps(job)
    check_eval(job)
    device = open_device(job)
    model, opt, ratios, params = load(job, ev, device)
    if job["steps"]:
        train(job, ev, model, opt, ratios, params, device)
        if device.type == "cuda":
            ev.emit("engine_trained", **cuda_pool(device))
    t0 = time.perf_counter()
    write_answers(job["answers_out"], evaluate(job, model, device))
    eval_s = time.perf_counter() - t0
    if job["adapter_out"] and METHODS[job["method"]["name"]]["adapters"]:
        model.save_pretrained(job["adapter_out"])
    if job["inference"] is not None:
        ev.emit("inference", speed=inference_speed(job, model, device))
    ev.emit("engine_done", peak_rss_bytes=proc_status_bytes("VmHWM"), eval_s=eval_s)


def failure(e):
    """(kind, message, key, file) of an exception."""
    if isinstance(e, Unsupported):
        return "unsupported", str(e), e.key, None
    if isinstance(e, BadInput):
        return "bad_input", str(e), e.key, e.file
    text = f"{type(e).__name__}: {e}"
    oom = isinstance(e, MemoryError) or (torch is not None and isinstance(e, torch.OutOfMemoryError))
    if oom or "DefaultCPUAllocator: can't allocate memory" in str(e):
        return "out_of_memory", text, None, None
    tb = traceback.extract_tb(e.__traceback__)
    where = f" (at {os.path.basename(tb[-1].filename)}:{tb[-1].lineno} in {tb[-1].name})" if tb else ""
    return "internal", text + where, None, None


def main(argv):
    ev = Events()
    try:
        if torch is None:
            raise RuntimeError(f"the pytorch engine needs torch, transformers and peft: {_IMPORT_ERROR}")
        ev.emit("engine_started", baseline_rss_bytes=rss(), versions=versions())
        transformers.utils.logging.disable_progress_bar()
        if len(argv) != 2:
            raise BadInput("usage: pytorch.py JOB.json")
        run(argv[1], ev)
        return 0
    except Exception as e:
        traceback.print_exc(file=sys.stderr)
        kind, message, key, file = failure(e)
        fields = {"kind": kind, "message": message, "key": key}
        if file is not None:
            fields["file"] = file
        ev.emit("failed", **fields)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
