"""Maps the repository's top-level folders into the one installed package, `postmast`.

The folders stay where the project keeps them (`scheduler/`, `connectors/`, `workers/`,
with the application shell in `postmast/`); installed, they are `postmast.scheduler`,
`postmast.connectors` and `postmast.workers`, and nothing else reaches the top of
site-packages. Subpackages are found by scanning, so a new connector subpackage needs
no edit here. Everything else about the distribution is in pyproject.toml.
"""

from setuptools import find_packages, setup

ROOTS = {
    "postmast": "postmast",
    "postmast.scheduler": "scheduler",
    "postmast.connectors": "connectors",
    "postmast.workers": "workers",
}

setup(
    package_dir=ROOTS,
    packages=[
        f"{name}.{sub}" if sub else name
        for name, folder in ROOTS.items()
        for sub in ["", *find_packages(folder)]
    ],
)
