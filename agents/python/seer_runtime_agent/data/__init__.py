"""The data an artifact job evaluates on, read as Seer's Swift side reads it (Sources/Shared/Data): IDX directories,
Keras-style .npz archives and ImageFolder trees, with the same SHA-256, the same seeded validation split and the same
normalization. `DataSource(DataSpec.command_line(path, ...))` is what `--data` gives."""

from .dataset import IDENTITY, SPLITS, DataError, Dataset, Normalization
from .idx import DEFAULT_DATA_DIR
from .spec import FORMATS, DataSource, DataSpec
from .split import SeededGenerator, split

__all__ = ["DEFAULT_DATA_DIR", "FORMATS", "IDENTITY", "SPLITS", "DataError", "DataSource", "DataSpec", "Dataset",
           "Normalization", "SeededGenerator", "split"]
