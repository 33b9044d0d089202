"""One reader per on-disk format: reader(facts, data_dir, cache_dir) -> (train, val), labels 0..K-1."""
from methods.data.readers.cifar import read_cifar10, read_cifar100
from methods.data.readers.cifar10_jpeg import read_cifar10_jpeg
from methods.data.readers.cub200 import read_cub200
from methods.data.readers.image_folders import read_image_folders
from methods.data.readers.imagenet64 import read_imagenet_dogs
from methods.data.readers.mnist import read_mnist
from methods.data.readers.stanford_dogs import read_stanford_dogs
from methods.data.readers.tiny_imagenet import read_tiny_imagenet

READERS = {
    "mnist": read_mnist,
    "cifar10": read_cifar10,
    "cifar100": read_cifar100,
    "imagewoof": read_image_folders,
    "imagenet_dogs": read_imagenet_dogs,
    "stanford_dogs": read_stanford_dogs,
    "cub200": read_cub200,
    "tiny_imagenet": read_tiny_imagenet,
    "imagenet": read_image_folders,
    "cifar10_jpeg": read_cifar10_jpeg,
}
