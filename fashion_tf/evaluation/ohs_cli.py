"""The objective-guided human score on ``python -m fashion_tf.evaluate`` (paper 4.1, 4.5).

    --ohs-sheets RUN_A RUN_B ... [--queries N] [--scorers A B] --out ohs/
        blind sheets (PNG + one HTML page), one template per scorer, the key apart
    --ohs-score ohs/ scores/*.csv [--ohs-weights category=5,...]
        un-blind, per-criterion percentages per system, Krippendorff's alpha, OHS
    --auto-ohs RUN_A RUN_B ... [--queries N] [--out DIR]
        the criteria from catalog attributes, a Table-I-like table and a bar chart
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from fashion_tf.evaluation.ohs_scoring import parse_weights


def add_ohs_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("objective-guided human score (paper sections 4.1, 4.5)")
    group.add_argument("--ohs-sheets", nargs="+", metavar="RUN", help="write blind OHS sheets for these runs")
    group.add_argument("--ohs-score", nargs="+", metavar="PATH",
                       help="the --ohs-sheets folder, then the filled templates (one CSV per scorer)")
    group.add_argument("--auto-ohs", nargs="+", metavar="RUN", help="automatic OHS from catalog attributes")
    group.add_argument("--queries", type=int, default=None,
                       help="number of queries (sheets: default 50; auto: every test item and street photo)")
    group.add_argument("--scorers", nargs="+", default=None, help="scorer names, one template each (default 3)")
    group.add_argument("--ohs-weights", default=None,
                       help="criterion weights, e.g. 'category=5,subtype=4,shape_difference=0.25' "
                            "(default: the paper's 5, 4, 1, 1, 1, 1, 0.25)")
    group.add_argument("--ohs-seed", type=int, default=0, help="seed of the query draw and the sheet shuffles")
    group.add_argument("--out", default=None, help="output folder (sheets: ohs/; auto: ohs_auto/; "
                                                   "score: the sheets folder)")


def run_ohs(args: argparse.Namespace) -> int | None:
    """Runs the OHS command given in ``args``: 0 when done, 2 (and one ``error:`` line
    on stderr) on bad input, None when no OHS command was given."""
    if not (args.ohs_sheets or args.ohs_score or args.auto_ohs):
        return None
    try:
        return _run(args)
    except (ValueError, FileNotFoundError, FileExistsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    from fashion_tf.runs import load_run

    weights = parse_weights(args.ohs_weights)
    if args.queries is not None and args.queries < 1:
        raise ValueError(f"--queries must be at least 1, got {args.queries}")
    if args.ohs_sheets:
        from fashion_tf.evaluation.ohs_sheets import (
            DEFAULT_QUERIES,
            DEFAULT_SCORERS,
            write_sheets,
        )

        out = Path(args.out or "ohs")
        summary = write_sheets([load_run(r) for r in args.ohs_sheets], out,
                               count=args.queries or DEFAULT_QUERIES, seed=args.ohs_seed,
                               scorers=args.scorers or list(DEFAULT_SCORERS), catalog_dir=args.catalog)
        print(f"{summary['queries']} sheets for {len(summary['systems'])} systems in {out / 'sheets'}, "
              f"all on {summary['html']}; templates: {', '.join(str(p) for p in summary['templates'])}; "
              f"key (keep it from the scorers): {summary['key']}")
        return 0
    if args.ohs_score:
        from fashion_tf.evaluation.ohs_scoring import format_ohs_table
        from fashion_tf.evaluation.ohs_templates import score_filled_templates

        if len(args.ohs_score) < 2:
            raise ValueError("--ohs-score needs the sheets folder and at least one filled template")
        result = score_filled_templates(args.ohs_score[0], args.ohs_score[1:], weights, args.out)
        print(format_ohs_table(result["table"], result["agreement"], weights))
        scorers, queries = result["scores"]["scorer"].nunique(), result["scores"]["query"].nunique()
        overall = result["agreement"]["all criteria"]
        print(f"{scorers} scorer(s), {queries} queries; alpha = Krippendorff's alpha between scorers "
              f"(all criteria together: {'n/a' if math.isnan(overall) else f'{overall:.3f}'}); "
              f"written to {', '.join(str(p) for p in result['paths'])}")
        return 0
    from fashion_tf.evaluation.ohs_auto import auto_ohs, weights_note, write_auto_ohs
    from fashion_tf.evaluation.ohs_scoring import format_ohs_table

    result = auto_ohs([load_run(r) for r in args.auto_ohs], args.queries, args.ohs_seed, weights, args.catalog)
    json_path, chart = write_auto_ohs(result, args.out or "ohs_auto", weights)
    print(format_ohs_table(result["table"], weights=weights))
    print(f"automatic OHS on {result['queries']['shop']} shop and {result['queries']['street']} street queries; "
          f"{weights_note(result, weights)}")
    print(f"written to {json_path} and {chart}")
    return 0
