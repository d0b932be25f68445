"""Model catalogue: the facts the leaderboard shows, derived from timm and the model itself.

Nothing here is a hand-written table of models: family comes from the timm module a model is
registered in, norm type from walking the model's modules, sizes from the model and its
pretrained config. Any timm model works.
"""

import difflib
import fnmatch
from collections import Counter
from contextlib import nullcontext
from functools import lru_cache

import timm
import torch
from torch.overrides import TorchFunctionMode

from db.errors import LeaderboardError, one_line
from db.families import family_label
from db.parsing import split_tag
from jobs.compat import op_schema, torch_dispatch_mode

DEFAULT_MODELS = ("test_*",)

# Canonical norm labels, matched against the class names in a module's MRO (first hit wins,
# so the more specific names come first: EvoNorm layers also mention "BatchNorm").
NORM_PATTERNS = (
    ("EvoNorm", "EvoNorm"),
    ("RmsNorm", "RMSNorm"),
    ("RMSNorm", "RMSNorm"),
    ("SimpleNorm", "RMSNorm"),
    ("BatchNorm", "BatchNorm"),
    ("GroupNorm", "GroupNorm"),
    ("LayerNorm", "LayerNorm"),
    ("InstanceNorm", "InstanceNorm"),
)
WEIGHT_STANDARDIZED = ("StdConv",)  # ScaledStdConv2d, StdConv2d, ...: norm-free nets


class UnknownModel(LeaderboardError):
    """A model name or glob that matches nothing in the installed timm."""


@lru_cache(maxsize=1)
def module_of_model() -> dict:
    """Map architecture name → the timm module it is registered in."""
    return {name: module for module in timm.list_modules() for name in timm.list_models(module=module)}


def resolve_models(patterns=DEFAULT_MODELS) -> list[str]:
    """Expand names and globs to sorted architecture names; unknown names raise UnknownModel."""
    known = timm.list_models()
    found = set()
    for pattern in patterns:
        arch = split_tag(pattern)[0]
        matches = fnmatch.filter(known, arch)
        if not matches:
            raise UnknownModel(unknown_model_message(pattern, known))
        found.update(matches)
    return sorted(found)


def unknown_model_message(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(split_tag(name)[0], known, n=5, cutoff=0.6)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    return (
        f"Unknown model {name!r} in timm {timm.__version__}.{hint} List them with `invoke catalog --models 'PATTERN*'`."
    )


def norm_label(module: torch.nn.Module) -> str | None:
    for cls in type(module).__mro__:
        for pattern, label in NORM_PATTERNS:
            if pattern in cls.__name__:
                return label
    return None


def norm_types(model: torch.nn.Module) -> list[str]:
    """Canonical norm labels found in `model`, most frequent first."""
    counts = Counter(label for m in model.modules() if (label := norm_label(m)))
    if not counts and any(
        p in cls.__name__ for m in model.modules() for cls in type(m).__mro__ for p in WEIGHT_STANDARDIZED
    ):
        return ["NormFree"]
    return [label for label, _ in counts.most_common()] or ["NoNorm"]


def count_gmacs(model: torch.nn.Module, input_size, device="cpu") -> float:
    """Multiply-accumulates (in billions) of one forward pass of one sample."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.randn(1, *input_size, device=device)
    was_training = model.training
    model.eval()
    # Grad stays on: FlopCounterMode's module tracker fails on some models under no_grad.
    # The math attention backend runs as counted matmuls; fused CPU attention kernels are not counted.
    # Outside the counter: it still sees every op, the cache only answers the ops' shapes.
    shapes = MetaShapeCache() if device == "meta" else nullcontext()
    with shapes, sdpa_kernel([SDPBackend.MATH]), FlopCounterMode(display=False) as counter:
        model(x)
    model.train(was_training)
    return counter.get_total_flops() / 2 / 1e9


class MetaShapeCache(torch_dispatch_mode()):
    """Shape propagation on the meta device, remembered: an op seen before with inputs of the same
    shapes, strides and dtypes, and the same other arguments, gets empty outputs of the shapes it gave
    then. Many meta kernels are Python and a model repeats its blocks: counting a model's GMACs on
    meta takes about half the time. Ops that mutate an input or return a view run as usual."""

    def __init__(self):
        super().__init__()
        self.outputs, self.hits = {}, 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        schema = op_schema(func)
        if schema.is_mutable or any(r.alias_info for r in schema.returns):
            return func(*args, **kwargs)
        try:
            key = (func, described(args), described(tuple(sorted(kwargs.items()))))
        except NotCached:
            return func(*args, **kwargs)
        if key in self.outputs:
            self.hits += 1
            return made(self.outputs[key])
        out = func(*args, **kwargs)
        try:
            self.outputs[key] = described(out)
        except NotCached:
            pass
        return out


class NotCached(Exception):
    """An op whose outputs a description cannot stand for: it always runs."""


def described(value):
    """A hashable description of an op's argument or output: meta tensors by shape, stride and dtype.
    A tensor with values (a CPU index the model builds, say) or an unknown object raises NotCached."""
    if isinstance(value, torch.Tensor):
        if not value.is_meta:
            raise NotCached
        return ("tensor", tuple(value.shape), value.stride(), value.dtype)
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(described(v) for v in value))
    if value is None or isinstance(
        value, (bool, int, float, str, torch.dtype, torch.device, torch.memory_format, torch.layout)
    ):
        return (type(value).__name__, value)  # the type too: 1, 1.0 and True are equal keys otherwise
    raise NotCached


def made(description):
    """Meta outputs of a described output."""
    kind, value = description[0], description[1:]
    if kind == "tensor":
        shape, stride, dtype = value
        return torch.empty_strided(shape, stride, dtype=dtype, device="meta")
    if kind in ("list", "tuple"):
        items = [made(v) for v in value[0]]
        return items if kind == "list" else tuple(items)
    return value[0]


def pretrained_facts(name: str) -> dict:
    cfgs = timm.models.get_arch_pretrained_cfgs(name)
    published = [tag for tag, cfg in cfgs.items() if cfg.hf_hub_id or cfg.url or cfg.file]
    default = timm.get_pretrained_cfg(name)
    test_size = default.test_input_size
    return {
        "pretrained_tags": [split_tag(name)[1] for name in published],
        "has_weights": bool(published),
        "input_size": default.input_size[-1],
        "test_input_size": test_size[-1] if test_size else None,
        "fixed_input_size": bool(default.fixed_input_size),
        "crop_pct": default.crop_pct,
        "interpolation": default.interpolation,
    }


# In-place initialisers that change only values (torch.nn.init's and the tensor ops timm's init
# functions call): a meta tensor has no values, so they change nothing there, yet each runs Python
# meta kernels; skipping them makes building a model on "meta" about a third cheaper.
VALUE_ONLY_INPLACE = frozenset(
    {
        "zero_",
        "fill_",
        "uniform_",
        "normal_",
        "add_",
        "sub_",
        "mul_",
        "div_",
        "erfinv_",
        "clamp_",
        "clamp_min_",
        "clamp_max_",
        "copy_",
        "exp_",
        "sqrt_",
        "log_",
        "abs_",
        "neg_",
        "constant_",
        "ones_",
        "zeros_",
        "eye_",
        "dirac_",
        "trunc_normal_",
        "orthogonal_",
        "sparse_",
        "kaiming_uniform_",
        "kaiming_normal_",
        "xavier_uniform_",
        "xavier_normal_",
    }
)


class InitSkippedOnMeta(TorchFunctionMode):
    """While building a model on the meta device: value-only in-place initialisers return their tensor."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if getattr(func, "__name__", None) in VALUE_ONLY_INPLACE and args and getattr(args[0], "is_meta", False):
            return args[0]
        return func(*args, **(kwargs or {}))


def model_facts(name: str, device: str = "cpu") -> dict:
    """Every catalogue fact about one architecture (builds the model with random weights).

    On the "meta" device nothing is allocated: any model, however large, costs well under a second.
    """
    facts = pretrained_facts(name)
    with torch.device(device), InitSkippedOnMeta() if device == "meta" else nullcontext():
        model = timm.create_model(name, pretrained=False)
    norms = norm_types(model)
    module = module_of_model().get(name, "unknown")
    return {
        "name": name,
        "family": family_label(module),
        "family_module": module,
        "norm": norms[0],
        "norms": norms,
        "params": sum(p.numel() for p in model.parameters()),
        "gmacs": round(count_gmacs(model, (3, facts["input_size"], facts["input_size"]), device), 4),
        **facts,
        "timm_version": timm.__version__,
    }


def catalog(patterns=DEFAULT_MODELS) -> list[dict]:
    return [model_facts(name) for name in resolve_models(patterns)]


def catalog_chunk(names: list[str]) -> dict:
    """Catalogue facts of `names` on the meta device, as a job process returns them (a dict, JSON):
    the entries, the names the installed timm does not know, and those failing to build, with why."""
    known = set(timm.list_models())
    result = {"status": "done", "entries": [], "unknown": [n for n in names if n not in known], "failed": {}}
    for name in names:
        if name not in known:
            continue
        try:
            result["entries"].append(model_facts(name, device="meta"))
        except Exception as e:  # one model that does not build never stops the others
            result["failed"][name] = one_line(e, 120)
    return result
