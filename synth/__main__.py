"""Command line of the offline synth.

    python -m synth <stack>                  resource tree and counts per type
    python -m synth <stack> --out DIR        DIR/resources.json, DIR/manifests/, DIR/graph.mmd
    python -m synth <stack> --check          inputs checked against the provider SDKs' input types
    python -m synth diff OLD.json NEW.json   Markdown for a pull-request comment
    python -m synth reference                the README's config reference, from the config models

Exit status: 0 on success, 2 on invalid configuration or stack files (one message, no traceback),
1 when ``--check`` finds unknown, snake_case or missing input properties.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from pathlib import Path

# The engine (and through it the Pulumi SDK) is imported inside the functions, after `gc.disable()`
# below has taken effect.
from synth.paths import ROOT


def _synth(argv: list[str]) -> int:
    from synth.engine import StackFileError, stack_names, synthesize
    from synth.output import render_tree, write_outputs

    parser = argparse.ArgumentParser(
        prog="python -m synth", description="Synthesize a stack offline, under mocks."
    )
    parser.add_argument("stack", help=f"stack name ({', '.join(stack_names()) or 'none found'})")
    parser.add_argument("--out", type=Path, help="write resources.json, manifests/ and graph.mmd here")
    parser.add_argument(
        "--check",
        action="store_true",
        help="check every resource's inputs against the provider SDK's input types (exit 1 on a problem)",
    )
    parser.add_argument(
        "--stack-dir",
        type=Path,
        default=ROOT,
        help="folder holding Pulumi.yaml and the stack files (default: the project)",
    )
    args = parser.parse_args(argv)

    from components.config import ConfigError

    started = time.perf_counter()
    try:
        synthesis = synthesize(args.stack, root=args.stack_dir)
    except (ConfigError, StackFileError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - started
    if args.check:
        from synth.check import check_resources, render_problems, unchecked_types

        problems = check_resources(synthesis.resources)
        for type_ in unchecked_types(synthesis.resources):
            print(f"note: {type_}: no SDK input type found, not checked", file=sys.stderr)
        if problems:
            print(render_problems(problems))
            print(f"{args.stack}: {len(problems)} input problem(s)", file=sys.stderr)
            return 1
        print(f"{args.stack}: inputs of {len(synthesis.custom())} resources match the SDK input types")
        return 0
    if args.out:
        written = write_outputs(synthesis, args.out)
        print(
            f"{args.stack}: {len(synthesis.resources)} resources, {written} manifests written to {args.out}"
        )
    else:
        print(render_tree(synthesis))
    print(f"synthesized in {elapsed:.2f} s", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    if argv[:1] == ["diff"]:
        from synth import diff

        return diff.main(argv[1:])
    if argv[:1] == ["reference"]:
        from synth.reference import render_reference

        print(render_reference(), end="")
        return 0
    return _synth(argv)


if __name__ == "__main__":
    # A short-lived process: without the cyclic collector (see `synthesize`) a synth is ~25 % faster;
    # every object lives until the process exits anyway.
    gc.disable()
    from synth.engine import StackFileError

    try:
        code = main()
    except StackFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = 2
    # Tearing down the interpreter frees every object of the synthesized program one by one, which
    # takes longer (~1 s for prod) than a third of the synthesis; the output is complete and flushed,
    # files are closed, and nothing is registered with atexit, so leave at once.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
