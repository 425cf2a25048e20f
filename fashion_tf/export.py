"""``python -m fashion_tf.export``: a run -> a TF Serving model repository (docs/design.md, "Serving").

Writes ``OUT/NAME/VERSION/`` (saved_model.pb, variables/, assets/) and, for the ScaNN
variant, ``OUT/NAME_scann/VERSION/``: with ``--index`` of a ScaNN index, that very index
(its trained tree and codebooks, searched with its tuned settings), else ScaNN's exact
scoring over the catalog. Each version is written into a hidden temporary
directory beside its final place and renamed when complete, so a server polling the
directory never loads half a version and a failed export leaves earlier versions as
they were. ``assets/`` carries labels.json, the index manifest and the model card.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import tensorflow as tf

import fashion_tf  # noqa: F401
from fashion_tf import zoo
from fashion_tf.embed import run_catalog
from fashion_tf.run_index import catalog_embeddings
from fashion_tf.runs import Run, load_run
from fashion_tf.serving_graph import (
    ServingModule,
    brute_force_scann_state,
    embedding_function,
    scann_state_from_index,
)

TEMP_PREFIX = ".tmp-"


def next_version(model_dir: Path) -> int:
    """One more than the highest integer version directory (1 for a new model)."""
    versions = [int(p.name) for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit()] if model_dir.exists() else []
    return max(versions, default=0) + 1


def write_version_atomically(module: tf.Module, model_dir: Path, version: int, assets: dict[str, str],
                             scann: bool = False) -> Path:
    """Save into ``model_dir/.tmp-VERSION-PID`` then rename to ``model_dir/VERSION``."""
    final = model_dir / str(version)
    if final.exists():
        raise FileExistsError(f"{final} already exists: TF Serving versions are immutable, pick another --version")
    model_dir.mkdir(parents=True, exist_ok=True)
    temporary = model_dir / f"{TEMP_PREFIX}{version}-{os.getpid()}"
    shutil.rmtree(temporary, ignore_errors=True)
    try:
        options = tf.saved_model.SaveOptions(namespace_whitelist=["Scann"] if scann else None)
        tf.saved_model.save(module, str(temporary), signatures=module.signatures(), options=options)
        (temporary / "assets").mkdir(exist_ok=True)
        for name, text in assets.items():
            (temporary / "assets" / name).write_text(text)
        os.rename(temporary, final)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    return final


def model_card(run: Run) -> str:
    card = Path(zoo.CARDS_DIR) / f"{run.name}.yaml"
    text = card.read_text() if card.exists() else f"name: {run.name}\n"
    return text + "\n# this export\nrun_metrics: " + json.dumps(run.metrics.get("test", {})) + "\n"


def export_run(run_dir, out_dir="export", name=None, version=None, index_dir=None, scann=True,
               personalizer_dir=None) -> list[Path]:
    """Export a run (directory or loaded ``Run``) as ``NAME`` (exact similar-items) and
    ``NAME_scann``; return the paths.

    ``personalizer_dir`` (a personalizer run over this run's embeddings) adds the
    ``personalize`` signature; a personalizer run itself exports ``NAME`` with only it."""
    run = run_dir if isinstance(run_dir, Run) else load_run(run_dir)
    if run.config.get("kind") == "style_embedding":
        return [export_style_run(run, out_dir, name, version)]
    if run.config.get("kind") == "personalizer":
        from fashion_tf.personalize_graph import export_personalizer_run

        return [export_personalizer_run(run, Path(out_dir), name, version)]
    personalizer = None
    if personalizer_dir is not None:
        from fashion_tf.personalize_graph import load_personalizer_for

        personalizer = load_personalizer_for(run, personalizer_dir)
    manifest = {}
    if index_dir is None:
        ids, vectors = catalog_embeddings(run, run_catalog(run, None))
    else:
        from fashion_tf.retrieval import load_index

        index = load_index(index_dir, expected_fingerprint=run.fingerprint)
        manifest = json.loads((Path(index_dir) / "manifest.json").read_text())
        if manifest.get("distance", "cosine") != "cosine":
            raise ValueError(f"{index_dir}: a {manifest['distance']!r} index; the serving graph ranks by "
                             "cosine, so export needs a cosine index (or none)")
        ids, vectors = index.ids, index.vectors
    name = name or f"fashion_{run.name}"
    assets = {
        "labels.json": (run.path / "labels.json").read_text(),
        "model_card.yaml": model_card(run),
        # the index's own manifest, or the same fields for the exact in-graph catalog search
        "index_manifest.json": json.dumps(manifest or {"backend": "brute_force", "distance": "cosine",
                                                        "dimension": int(vectors.shape[1]), "count": len(ids),
                                                        "model_fingerprint": run.fingerprint}, indent=2),
    }
    out = Path(out_dir)
    version = int(version or max(next_version(out / name), next_version(out / f"{name}_scann")))
    embed = embedding_function(run.model, run.image_size)  # traced once, for both variants
    written = [write_version_atomically(ServingModule(run.model, run.vocabulary, run.image_size, ids, vectors,
                                                      personalizer=personalizer, embed=embed),
                                        out / name, version, assets)]
    if scann:
        params = manifest.get("params", {})
        if manifest.get("backend") == "scann":
            state = scann_state_from_index(index_dir)
            search = params if params.get("resolved_mode") == "tree" else None
        else:
            state, search = brute_force_scann_state(vectors), None
        module = ServingModule(run.model, run.vocabulary, run.image_size, ids, vectors, scann_state=state,
                               scann_search=search, personalizer=personalizer, embed=embed)
        written.append(write_version_atomically(module, out / f"{name}_scann", version, assets, scann=True))
    return written


def export_style_run(run: Run, out_dir="export", name=None, version=None) -> Path:
    """A ctl_triplet run -> ``OUT/NAME/VERSION`` with serving_default and complete_the_look
    (fashion_tf.serving_style); its catalog search is exact, in the graph."""
    from fashion_tf.serving_style import style_serving_module

    module = style_serving_module(run)
    name = name or f"fashion_{run.name}"
    out = Path(out_dir)
    assets = {"labels.json": (run.path / "labels.json").read_text(), "model_card.yaml": model_card(run),
              "categories.json": json.dumps({"categories": run.config["categories"],
                                             "compatible_categories": run.config["compatible_categories"]})}
    return write_version_atomically(module, out / name, int(version or next_version(out / name)), assets)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fashion_tf.export", description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True)
    parser.add_argument("--index", default=None, help="index directory to put in the graph (default: exact, all items)")
    parser.add_argument("--name", default=None, help="model name (default fashion_<zoo name>)")
    parser.add_argument("--out", default="export")
    parser.add_argument("--version", type=int, default=None, help="default: the next integer")
    parser.add_argument("--no-scann", action="store_true", help="skip the NAME_scann variant")
    parser.add_argument("--personalizer", default=None, metavar="RUN",
                        help="personalizer run over this run's embeddings: adds the `personalize` signature")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        paths = export_run(args.run, args.out, args.name, args.version, args.index, scann=not args.no_scann,
                           personalizer_dir=args.personalizer)
    except (ValueError, FileNotFoundError, FileExistsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"exported {', '.join(str(p) for p in paths)} in {time.perf_counter() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
