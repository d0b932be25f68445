"""Family display names: what the catalogue stores for the timm module a model is registered in.

Here in db/, not jobs/, so that an upgrade of the database can relabel the families it stored
before a name changed (m006 in db/migrations.py) without importing timm.
"""

# Family display names, one per timm module, as each architecture's paper or timm's docstring spells it.
# The catalogue is the one place labels are made: the site and the command line show them as stored.
# A module missing here (one added to timm later) shows under its module name, never a guessed casing.
FAMILY_LABELS = {
    "beit": "BEiT", "byoanet": "ByoaNet", "byobnet": "ByobNet", "cait": "CaiT", "coat": "CoaT",
    "convit": "ConViT", "convmixer": "ConvMixer", "convnext": "ConvNeXt", "cpubone": "CPUBone",
    "crossvit": "CrossViT", "csatv2": "CSATv2", "cspnet": "CSPNet", "cspnext": "CSPNeXt", "davit": "DaViT",
    "deepseek_vit": "DeepSeek ViT", "deit": "DeiT", "densenet": "DenseNet", "dla": "DLA", "dpn": "DPN",
    "edgenext": "EdgeNeXt", "efficientformer": "EfficientFormer", "efficientformer_v2": "EfficientFormerV2",
    "efficientnet": "EfficientNet", "efficientvim": "EfficientViM", "efficientvit_mit": "EfficientViT (MIT)",
    "efficientvit_msra": "EfficientViT (MSRA)", "eva": "EVA", "fasternet": "FasterNet", "fastvit": "FastViT",
    "focalnet": "FocalNet", "gcvit": "GCViT", "gemma4_vit": "Gemma 4 ViT", "ghostnet": "GhostNet",
    "hardcorenas": "HardCoRe-NAS", "hgnet": "PP-HGNet", "hiera": "Hiera", "hieradet_sam2": "HieraDet (SAM 2)",
    "hrnet": "HRNet", "iformer": "iFormer", "inception_next": "InceptionNeXt",
    "inception_resnet_v2": "Inception-ResNet-v2", "inception_v3": "Inception-v3", "inception_v4": "Inception-v4",
    "lcnetv2": "PP-LCNetV2", "levit": "LeViT", "lowformer": "LowFormer", "mambaout": "MambaOut",
    "maxxvit": "MaxxViT", "metaformer": "MetaFormer", "mlp_mixer": "MLP-Mixer", "mobilenetv3": "MobileNetV3",
    "mobilenetv5": "MobileNetV5", "mobilevit": "MobileViT", "mvitv2": "MViTv2", "naflexvit": "NaFlexViT",
    "nasnet": "NASNet", "nest": "NesT", "nextvit": "Next-ViT", "nfnet": "NFNet", "pit": "PiT",
    "pnasnet": "PNASNet", "pvt_v2": "PVTv2", "qwen3_vit": "Qwen3 ViT", "rdnet": "RDNet", "regnet": "RegNet",
    "repghost": "RepGhostNet", "repvit": "RepViT", "res2net": "Res2Net", "resnest": "ResNeSt",
    "resnet": "ResNet", "resnetv2": "ResNetV2", "rexnet": "ReXNet", "selecsls": "SelecSLS", "senet": "SENet",
    "sequencer": "Sequencer", "shvit": "SHViT", "sknet": "SKNet", "starnet": "StarNet",
    "swiftformer": "SwiftFormer", "swin_transformer": "Swin", "swin_transformer_v2": "Swin V2",
    "swin_transformer_v2_cr": "Swin V2 (CR)", "tiny_vit": "TinyViT", "tnt": "TNT", "tresnet": "TResNet",
    "twins": "Twins", "vgg": "VGG", "visformer": "Visformer", "vision_transformer": "ViT",
    "vision_transformer_hybrid": "ViT hybrid", "vision_transformer_relpos": "ViT (rel-pos)",
    "vision_transformer_sam": "ViT (SAM)", "vitamin": "ViTamin", "volo": "VOLO", "vovnet": "VoVNet",
    "xception": "Xception", "xception_aligned": "Xception (aligned)", "xcit": "XCiT",
}


def family_label(module: str) -> str:
    return FAMILY_LABELS.get(module, module)
