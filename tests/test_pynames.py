"""Distribution names -> python3Packages attribute names."""

from __future__ import annotations

import pytest

from wheelmeta.patchelf_nix.pynames import is_cuda_wheel, python_attribute


@pytest.mark.parametrize(
    "name, attribute",
    [
        ("PyYAML", "pyyaml"),
        ("typing_extensions", "typing-extensions"),
        ("Pillow", "pillow"),
        ("zope.interface", "zope-interface"),
        ("ruamel.yaml", "ruamel-yaml"),
    ],
)
def test_normalized_name_is_the_attribute(name, attribute):
    assert python_attribute(name) == attribute


@pytest.mark.parametrize(
    "name, attribute",
    [("opencv-python-headless", "opencv4"), ("PyGObject", "pygobject3"), ("psycopg2-binary", "psycopg2")],
)
def test_known_exceptions_take_the_nixpkgs_name(name, attribute):
    assert python_attribute(name) == attribute


@pytest.mark.parametrize("name", ["nvidia-cublas-cu12", "nvidia_cudnn_cu13", "nvidia-cublas", "cuda-toolkit"])
def test_cuda_library_wheels_have_no_python_package(name):
    assert is_cuda_wheel(name) and python_attribute(name) is None


def test_other_nvidia_python_packages_stay_python_packages():
    assert python_attribute("nvidia-ml-py") == "nvidia-ml-py"
