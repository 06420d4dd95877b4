"""A learned detector of synthetic imagery, pluggable: the examiner's ONNX model, pinned.

Cairn ships no weights and downloads none. A detector is a JSON config naming the model file
and its SHA-256 (a model that differs from the pinned hash is refused: a score is only as
good as knowing which model gave it), the pre-processing and the output:

    {"name": "spectral-v1", "model": "spectral.onnx", "sha256": "<64 hex>",
     "input": {"size": [224, 224], "layout": "NCHW", "scale": 255.0,
               "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
     "output": {"index": 0, "activation": "sigmoid"}, "threshold": 0.5}

`model` is relative to the config file. The score is a `statistical` finding, never proof.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from cairn.media.decode import DecodeError, Picture
from cairn.provenance.finding import Finding


class DetectorError(ValueError):
    pass


@dataclass(frozen=True)
class DetectorConfig:
    name: str
    model: Path
    sha256: str
    size: tuple[int, int]
    layout: str
    scale: float
    mean: tuple[float, ...]
    std: tuple[float, ...]
    output_index: int
    activation: str
    threshold: float

    @classmethod
    def read(cls, path: str | Path) -> DetectorConfig:
        p = Path(path)
        try:
            c = json.loads(p.read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise DetectorError(f"{p}: detector config unreadable: {e}") from None
        try:
            inp, out = c.get("input", {}), c.get("output", {})
            cfg = cls(name=str(c["name"]), model=(p.parent / c["model"]).resolve(),
                      sha256=str(c["sha256"]).lower(),
                      size=(int(inp.get("size", [224, 224])[0]),
                            int(inp.get("size", [224, 224])[1])),
                      layout=str(inp.get("layout", "NCHW")).upper(),
                      scale=float(inp.get("scale", 255.0)),
                      mean=tuple(float(x) for x in inp.get("mean", [0.0, 0.0, 0.0])),
                      std=tuple(float(x) for x in inp.get("std", [1.0, 1.0, 1.0])),
                      output_index=int(out.get("index", 0)),
                      activation=str(out.get("activation", "none")),
                      threshold=float(c.get("threshold", 0.5)))
        except (KeyError, TypeError, ValueError, IndexError) as e:
            raise DetectorError(f"{p}: detector config incomplete or malformed: {e}") from None
        if cfg.layout not in ("NCHW", "NHWC") or cfg.activation not in ("none", "sigmoid"):
            raise DetectorError(f"{p}: layout must be NCHW or NHWC, activation none or sigmoid")
        if len(cfg.sha256) != 64 or len(cfg.mean) != 3 or len(cfg.std) != 3:
            raise DetectorError(f"{p}: sha256 must be 64 hex; mean and std 3 values each")
        return cfg


class Detector:
    def __init__(self, cfg: DetectorConfig) -> None:
        import onnxruntime as ort

        try:
            blob = cfg.model.read_bytes()
        except OSError as e:
            raise DetectorError(f"detector model {cfg.model}: {e.strerror or e}") from None
        actual = hashlib.sha256(blob).hexdigest()
        if actual != cfg.sha256:
            raise DetectorError(f"detector model {cfg.model} has SHA-256 {actual}, the config "
                                f"pins {cfg.sha256}: refusing a model that is not the one "
                                "configured")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = opts.inter_op_num_threads = 1  # one core per worker
        try:
            self.session = ort.InferenceSession(blob, opts, providers=["CPUExecutionProvider"])
        except Exception as e:  # noqa: BLE001 - onnxruntime raises its own types
            raise DetectorError(f"detector model {cfg.model} does not load: {e}") from None
        self.cfg = cfg
        self.input_name = self.session.get_inputs()[0].name

    def preprocess(self, picture: Picture) -> np.ndarray:
        """The model's input from the full frame media/decode gives (DecodeError if none)."""
        c = self.cfg
        rgb = picture.rgb_resized(c.size)
        if rgb is None:
            raise DecodeError(picture.error or "no decodable frame")
        # annotated: numpy's stubs type floating[Any] / floating[32] as complex128
        x: np.ndarray = rgb.astype(np.float32) / np.float32(c.scale)
        x = (x - np.asarray(c.mean, np.float32)) / np.asarray(c.std, np.float32)
        if c.layout == "NCHW":
            x = x.transpose(2, 0, 1)
        return x[None, ...].astype(np.float32)

    def score(self, picture: Picture) -> float:
        out = self.session.run(None, {self.input_name: self.preprocess(picture)})
        raw = float(np.asarray(out[0]).ravel()[self.cfg.output_index])
        return 1.0 / (1.0 + math.exp(-raw)) if self.cfg.activation == "sigmoid" else raw

    def finding(self, picture: Picture) -> Finding:
        s = self.score(picture)
        return Finding("detector", "statistical", f"detector:{self.cfg.name}", {
            "name": self.cfg.name, "score": round(s, 6), "threshold": self.cfg.threshold,
            "above_threshold": s >= self.cfg.threshold, "model_sha256": self.cfg.sha256})


@lru_cache(maxsize=4)
def load_detector(config_path: str) -> Detector:
    """One loaded detector per config per process (each scan worker loads its own)."""
    return Detector(DetectorConfig.read(config_path))
