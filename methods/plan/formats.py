"""The on-disk formats the suite reads, by name (a dataset's `reader:` in config/datasets.yaml, never its name): what
each gives (`storage`) and what it reads. Planning data, torch-free: checking an entry needs no reader; the readers
themselves are methods.data.readers.<module>.<function>."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Format:
    module: str          # methods.data.readers.<module>
    function: str
    storage: str         # what its splits are: tensor (uint8 arrays in memory) or files (decoded per sample)
    layout: str          # what it reads under <data_root>/<root_dir>


FORMATS = {
    "idx": Format("mnist", "read_mnist", "tensor",
                  "the four idx files {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] (MNIST, Fashion-MNIST, ...)"),
    "cifar10_pickle": Format("cifar", "read_cifar10", "tensor", "cifar-10-batches-py/ (python pickles)"),
    "cifar100_pickle": Format("cifar", "read_cifar100", "tensor", "cifar-100-python/ (python pickles, fine labels)"),
    "image_folders": Format("image_folders", "read_image_folders", "files", "train/<class>/*, val/<class>/*"),
    "jpeg_class_folders": Format("cifar10_jpeg", "read_cifar10_jpeg", "tensor",
                                 "train/<class>/*.jpg, test/<class>/*.jpg of image_size px, decoded once"),
    "tiny_imagenet": Format("tiny_imagenet", "read_tiny_imagenet", "tensor", "the cs231n Tiny ImageNet layout"),
    "imagenet64_dogs": Format("imagenet64", "read_imagenet_dogs", "tensor",
                              "Downsampled ImageNet 64x64 npz batches, the 118 dog classes kept"),
    "cub200": Format("cub200", "read_cub200", "files", "CUB_200_2011's images/ and list files"),
    "stanford_dogs": Format("stanford_dogs", "read_stanford_dogs", "files", "Images/ and {train,test}_list.mat"),
}
