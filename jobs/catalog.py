"""Model catalogue: the facts the leaderboard shows, derived from timm and the model itself.

Nothing here is a hand-written table of models: family comes from the timm module a model is
registered in, norm type from walking the model's modules, sizes from the model and its
pretrained config. Any timm model works.
"""
import difflib
import fnmatch
from collections import Counter
from functools import lru_cache

import timm
import torch

from db.errors import LeaderboardError, one_line
from db.parsing import split_tag

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

# Readable family labels where plain title-casing of the module name reads wrong.
FAMILY_LABELS = {
    "vision_transformer": "ViT",
    "vision_transformer_relpos": "ViT (rel-pos)",
    "vision_transformer_hybrid": "ViT hybrid",
    "convnext": "ConvNeXt",
    "efficientnet": "EfficientNet",
    "byobnet": "ByobNet",
    "nfnet": "NFNet",
    "resnet": "ResNet",
    "resnetv2": "ResNetV2",
    "maxxvit": "MaxxViT",
    "mambaout": "MambaOut",
    "mobilenetv3": "MobileNetV3",
    "regnet": "RegNet",
}


class UnknownModel(LeaderboardError):
    """A model name or glob that matches nothing in the installed timm."""


def family_label(module: str) -> str:
    return FAMILY_LABELS.get(module, module.replace("_", " ").title())


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
    return f"Unknown model {name!r} in timm {timm.__version__}.{hint} List them with `invoke catalog --models 'PATTERN*'`."


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
    with sdpa_kernel([SDPBackend.MATH]), FlopCounterMode(display=False) as counter:
        model(x)
    model.train(was_training)
    return counter.get_total_flops() / 2 / 1e9


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


def model_facts(name: str, device: str = "cpu") -> dict:
    """Every catalogue fact about one architecture (builds the model with random weights).

    On the "meta" device nothing is allocated: any model, however large, costs well under a second.
    """
    facts = pretrained_facts(name)
    with torch.device(device):
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


def catalog_results(db, batch: int = 50) -> dict:
    """Catalogue every uncatalogued architecture that has results, on the meta device.

    Saved every `batch` models, so an interrupted run keeps its progress. Returns counts and the
    models skipped: unknown to the installed timm, or failing to build.
    """
    from db.catalog import save_catalog, uncatalogued_results  # here: job processes never need sqlite

    known = set(timm.list_models())
    names = uncatalogued_results(db)
    report = {"catalogued": 0, "unknown": [n for n in names if n not in known], "failed": {}}
    todo = [n for n in names if n in known]
    for start in range(0, len(todo), batch):
        entries = []
        for name in todo[start:start + batch]:
            try:
                entries.append(model_facts(name, device="meta"))
            except Exception as e:  # one model that does not build never stops the others
                report["failed"][name] = one_line(e, 120)
        save_catalog(db, entries)
        report["catalogued"] += len(entries)
    return report
