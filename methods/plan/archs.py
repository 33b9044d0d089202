"""The architectures' names (planning checks a run's arch without building it; methods.models builds them)."""
ARCHS = ("lenet5", "resnet18", "resnet34", "mobilenetv2", "lenet5_classic", "lenet5_he")
LENETS = ("lenet5", "lenet5_classic", "lenet5_he")   # variants of the paper's MNIST network (models/lenet.py)
FAMILIES = ("small", "standard")  # small: 32-64 px data and MNIST (CIFAR-style stems); standard: 224 px data
TIMM_PREFIX = "timm_"             # arch timm_<name>: timm.create_model(<name>), e.g. timm_resnet10t, timm_efficientnet_b0
