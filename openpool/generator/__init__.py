"""Realistic orchestrator event files for tests, demos and benchmarks: `openpool generate`.

The functional core is `generate(config, seed)`, a pure function returning the files and a manifest;
`openpool.generator.output` writes a data set to a folder or uploads it to S3.
"""

from openpool.generator.config import GeneratorConfig, GeneratorConfigError
from openpool.generator.dataset import GeneratedDataSet, generate
from openpool.generator.manifest import Manifest
from openpool.generator.output import upload, write_folder, write_manifest
from openpool.generator.pool_model import ACTIVE_PARTITIONS, Partition

__all__ = [
    "ACTIVE_PARTITIONS",
    "GeneratedDataSet",
    "GeneratorConfig",
    "GeneratorConfigError",
    "Manifest",
    "Partition",
    "generate",
    "upload",
    "write_folder",
    "write_manifest",
]
