"""Ingest: loaders, segmentation, extraction, resolution and the pipeline that writes them.

spaCy is imported here first, with torch hidden from it: spaCy's thinc imports torch whenever
it is installed, only to offer PyTorch layers that a blank pipeline (all Spiral uses) never
runs. Here torch is a CUDA build: importing it costs ~500 MB of resident memory and seconds,
in every process that segments a text, while the ONNX embedding backends need no torch at all
(graph/onnx_light.py). A process that has imported torch already keeps it for thinc too.
"""

from __future__ import annotations

import sys


def _spacy_without_torch() -> None:
    if "torch" in sys.modules or "thinc" in sys.modules:
        return
    sys.modules["torch"] = None  # type: ignore[assignment]  # `import torch` raises ImportError
    try:
        import spacy  # noqa: F401
    finally:
        if sys.modules.get("torch", 0) is None:
            del sys.modules["torch"]


_spacy_without_torch()
