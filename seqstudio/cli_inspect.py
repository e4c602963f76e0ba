"""``seqstudio inspect``: a recurrent layer's gates and states, step by step, on one real input.

``seqstudio inspect --project P.json (--text "..." | --window N) --layer K --out gates.npz|gates.png``

``--text`` inspects a typed review with a text project; ``--window N`` the
test window ``N`` of a series project (or test review ``N`` of a text
project). ``--layer`` is the layer's position in the stack, counted from 1 as
``seqstudio summary`` shows it (default: the first recurrent layer). ``.npz``
keeps every array (``forward_f``, ``forward_c``, ``backward_h``..., ``labels``,
``predictions``, ``attributions``); ``.png`` is the Inspect tab's picture.
Without ``--out`` a summary is printed.
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

from seqstudio.core.errors import SeqStudioError

__all__ = ["add_parser", "run"]

OUT_SUFFIXES = (".npz", ".png")


def add_parser(sub) -> None:
    """Add the ``inspect`` subcommand to the CLI's subparsers."""
    p = sub.add_parser("inspect", help="a recurrent layer's gates and states step by step on one input")
    p.add_argument("--project", metavar="FILE", help="a trained project (.json)")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--text", metavar="TEXT", help="a review to inspect (text projects)")
    what.add_argument("--window", type=int, metavar="N",
                      help="test window N of the series (or test review N of a text project), from 0")
    p.add_argument("--layer", type=int, metavar="K",
                   help="the recurrent layer's position in the stack, from 1 as `seqstudio summary` "
                        "lists it (default: the first recurrent layer)")
    p.add_argument("--out", metavar="FILE.npz|FILE.png", help="write every array (.npz) or the picture (.png)")
    p.add_argument("--no-attributions", action="store_true",
                   help="skip the integrated-gradient attributions of a text (faster)")
    p.set_defaults(func=run)


def _check_args(args: argparse.Namespace) -> Path | None:
    from seqstudio.cli import _check_output_path

    if not args.project:
        raise SeqStudioError("inspect needs a trained project", fix="pass --project FILE (saved with --save)")
    if args.text is None and args.window is None:
        raise SeqStudioError("inspect needs an input", fix='pass --text "a review" (text projects) or '
                                                           "--window N (a test window, from 0)")
    if args.out is None:
        return None
    out = Path(args.out)
    if out.suffix.lower() not in OUT_SUFFIXES:
        raise SeqStudioError(f"--out {args.out!r} must end in .npz (the arrays) or .png (the picture)",
                             fix="e.g. --out gates.npz or --out gates.png")
    return _check_output_path(args.out, "--out")


def _check_layer(inspector, layer: int | None) -> int:
    found = inspector.layers()
    listed = ", ".join(f"--layer {k} ({name})" for k, name in found)
    if not found:
        raise SeqStudioError("this model has no recurrent layer to inspect",
                             fix="inspect a project whose stack has an LSTM, GRU or SimpleRNN layer")
    if layer is None:
        return found[0][0]
    if layer not in [k for k, _ in found]:
        n = len(getattr(inspector.model, "layers", []))
        what = (f"--layer {layer}: layer {layer} is not a recurrent layer" if 1 <= layer <= n else
                f"--layer {layer}: the model has {n} layers, counted from 1")
        raise SeqStudioError(what, fix=f"pass one of: {listed}")
    return layer


def _inspect(args: argparse.Namespace, project, registry):
    from seqstudio.cli import project_is_text
    from seqstudio.core.inspect import Inspector

    is_text = project_is_text(project)
    if args.text is not None and not is_text:
        raise SeqStudioError("this project forecasts a time series; --text is for text projects",
                             where=args.project, fix="pick a test window with --window N instead")
    inspector = Inspector.from_project(project, registry, with_data=args.window is not None)
    layer = _check_layer(inspector, args.layer)
    attributions = not args.no_attributions
    if args.text is not None:
        if not args.text.strip():
            raise SeqStudioError("--text is empty", fix='pass --text "a review to inspect"')
        return inspector.text(args.text, layer, attributions=attributions)
    n = inspector.test_size()
    if not 0 <= args.window < n:
        noun = "reviews" if is_text else "windows"
        raise SeqStudioError(f"--window {args.window}: the test set has {n} {noun}",
                             where=args.project,
                             fix=f"pass --window from 0 to {n - 1}" if n else
                             "the project's data has no test part: give it one (test_frac) and retrain")
    return inspector.test_item(args.window, layer, attributions=attributions)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from seqstudio.cli import _registry
    from seqstudio.core.project import Project

    out = _check_args(args)
    project = Project.load(args.project)
    found = _inspect(args, project, _registry())
    trace = found.trace
    kind = "" if trace.kind == trace.layer_name else f"{trace.kind}, "
    print(f"layer {trace.layer_index + 1} ({trace.layer_name}, {kind}{trace.units} units, "
          f"{len(trace.directions)} direction{'s' if len(trace.directions) > 1 else ''}): "
          f"{trace.steps} steps, {found.stop - found.first} shown; "
          f"step form vs fused layer: max |diff| {trace.max_abs_diff:.2g}")
    if found.predictions is not None:
        print(f"{found.prediction_name} after the last token: {found.predictions[-1]:.4f}")
    if found.attribution is not None:
        att = found.attribution
        top = np.argsort(-np.abs(att.per_token))[:5]
        words = ", ".join(f"{found.labels[i]} {att.per_token[i]:+.3f}" for i in top if found.labels[i])
        print(f"integrated gradients ({att.steps} steps, completeness gap {att.relative_gap:.2%}): {words}")
    if out is None:
        return 0
    if out.suffix.lower() == ".npz":
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **found.arrays())
        _write_bytes(out, buffer.getvalue())
    else:
        from seqstudio.gui.inspect_view import render_png

        _write_bytes(out, render_png(found))
    print(f"wrote {out}")
    return 0


def _write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_bytes(data)
        tmp.replace(path)  # one commit point: an interrupted write leaves the old file
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise SeqStudioError(f"--out: cannot write {str(path)!r}: {exc.strerror or exc}",
                             fix="give --out another path") from None
