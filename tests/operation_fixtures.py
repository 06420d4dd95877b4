"""A small benign operation for triage and referral tests: five suspects in two countries,
a device each, built through the real CLI (scan, lists, suspects, devices, actions).

- S-PROD (NL): a private LoRA file (safetensors) and a generated picture citing it (A1111
  parameters), plus a picture on a TLP:RED list;
- S-FP (NL): another generated picture citing the same LoRA, no model file;
- S-SINGLE (NL): one picture on the known list, one ordinary photo;
- S-REPEAT (DK): two pictures on the known list;
- S-NONE (DK): ordinary photos only, one of them also on S-SINGLE's device (a shared family).
Every picture is noise or shapes; prompts are benign (demo_provenance.A1111_TEXT)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
from PIL import Image

from cairn.demo import picture
from cairn.demo_provenance import A1111_TEXT, png, safetensors
from inprocess import pictures, run

CASE = "op-tide"


def build_operation(tmp_path: Path, home: Path) -> dict[str, Path]:
    ex = tmp_path / "exhibits"
    known = pictures(ex / "known", n=4, seed=930)  # photo-0..3: k1, k2, k3 and a RED one
    lora_tensors = np.random.default_rng(31).bytes(200_000)
    short = hashlib.sha256(lora_tensors).hexdigest()[:12]
    prod = ex / "prod"
    (prod / "models" / "Lora").mkdir(parents=True)
    (prod / "models" / "Lora" / "tide-style.safetensors").write_bytes(
        safetensors(lora_tensors, {"ss_output_name": "tide-style"}))
    (prod / "gen-a.png").write_bytes(png(picture(601, (320, 240)),
                                         {"parameters": A1111_TEXT.format(lora=short)}))
    Image.open(known / "photo-3.png").save(prod / "red.png")
    fp = ex / "fp"
    fp.mkdir()
    (fp / "gen-b.png").write_bytes(png(picture(602, (320, 240)), {
        "parameters": A1111_TEXT.format(lora=short).replace("3141592", "2718281")}))
    single = pictures(ex / "single", n=1, seed=960)
    Image.open(known / "photo-2.png").save(single / "k3.png")
    repeat = ex / "repeat"
    repeat.mkdir()
    for i in (0, 1):
        Image.open(known / f"photo-{i}.png").save(repeat / f"k{i + 1}.png")
    none = pictures(ex / "none", n=2, seed=970)
    Image.open(single / "photo-0.png").save(none / "same-as-single.png")

    def sha(p: Path) -> str:
        return json.loads(run(home, "hash", p, "--json"))["sha256"]

    (tmp_path / "known.txt").write_text("".join(
        f"sha256 {sha(repeat / n)}\n" for n in ("k1.png", "k2.png"))
        + f"sha256 {sha(single / 'k3.png')}\n")
    (tmp_path / "red.txt").write_text(f"sha256 {sha(prod / 'red.png')}\n")
    run(home, "lists", "import", tmp_path / "known.txt", "--name", "known-demo", "--format",
        "te-local")
    run(home, "lists", "import", tmp_path / "red.txt", "--name", "red-demo", "--format",
        "te-local", "--tlp", "red")
    run(home, "cases", "create", CASE)
    for key, country, extra in (
            ("S-PROD", "NL", ["--account", "forum:user-0101", "--email",
                              "user-0101@example.test", "--payment", "NL00TEST0123456789"]),
            ("S-FP", "NL", ["--account", "forum:user-0102"]),
            ("S-SINGLE", "NL", ["--account", "forum:user-0103"]),
            ("S-REPEAT", "DK", ["--account", "forum:user-0104"]),
            ("S-NONE", "DK", [])):
        run(home, "suspects", "add", key, "--case", CASE, "--country", country, *extra)
    for dev, suspect, folder in (("D-PROD", "S-PROD", prod), ("D-FP", "S-FP", fp),
                                 ("D-SINGLE", "S-SINGLE", single),
                                 ("D-REPEAT", "S-REPEAT", repeat), ("D-NONE", "S-NONE", none)):
        run(home, "devices", "add", dev, "--case", CASE, "--suspect", suspect, "--kind",
            "laptop", "--seized-at", "2024-11-05")
        run(home, "scan", folder, "--case", CASE, "--device", dev, "--no-progress")
    run(home, "actions", "add", "--case", CASE, "--kind", "house-search", "--suspect",
        "S-PROD", "--date", "2024-11-05", "--country", "NL", "--agency", "Police-West")
    run(home, "actions", "add", "--case", CASE, "--kind", "arrest", "--suspect",
        "S-REPEAT", "--date", "2024-11-06", "--country", "DK", "--agency", "Police-North")
    return {"prod": prod, "fp": fp, "single": single, "repeat": repeat, "none": none}
