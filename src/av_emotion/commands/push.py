"""`av-emotion push`: publish a saved model (weights, config, processor, card, pictures) to the Hub in one commit.

Examples:
    av-emotion push runs/avt_ca_ravdess/fold_0 --repo-id alice/avt-ca-ravdess-fold0
    av-emotion push runs/avt_ca_ravdess/fold_0 --repo-id alice/avt-ca-ravdess --private --revision fold0
    av-emotion push runs/avt_ca_ravdess/fold_0 --repo-id alice/avt-ca-ravdess --dry-run
    av-emotion push runs/avt_ca_ravdess/fold_0 --repo-id alice/avt-ca-ravdess --with-demo

Log in first with `hf auth login` (or set HF_TOKEN): the token is read by huggingface_hub, never by this
command, and never printed.
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the `push` arguments to `parser`."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = (
        "examples:\n"
        "  av-emotion push runs/avt_ca_ravdess/fold_0 --repo-id alice/avt-ca-ravdess-fold0\n"
        "  av-emotion push runs/avt_ca_ravdess/fold_0 --repo-id alice/avt-ca-ravdess --private --revision fold0\n"
        "  av-emotion push runs/avt_ca_ravdess/fold_0 --repo-id alice/avt-ca-ravdess --with-demo\n"
        "authentication: `hf auth login` or HF_TOKEN (never passed on the command line)"
    )
    parser.add_argument("model_dir", metavar="DIR", help="folder written by save_pretrained (a training run's output)")
    parser.add_argument(
        "--repo-id",
        "--repo_id",
        dest="repo_id",
        required=True,
        metavar="USER/NAME",
        help="Hub repo (created if missing)",
    )
    parser.add_argument("--private", action="store_true", help="create the repo private (if it does not exist yet)")
    parser.add_argument("--revision", default=None, metavar="BRANCH", help="branch to commit to (created if missing)")
    parser.add_argument(
        "--commit-message",
        "--commit_message",
        dest="commit_message",
        default=None,
        metavar="TEXT",
        help="commit message (default: 'Upload <model_type> model with av_emotion <version>')",
    )
    parser.add_argument(
        "--keep-card",
        action="store_true",
        help="upload README.md as it is instead of rendering it again with the repo id",
    )
    parser.add_argument(
        "--no-remote-code",
        dest="remote_code",
        action="store_false",
        help="do not upload the standalone model code (trust_remote_code loading without av_emotion)",
    )
    parser.add_argument(
        "--with-demo",
        action="store_true",
        help="also create or update a Gradio Space serving the web demo of the model (`av-emotion demo`); the "
        "model card links it",
    )
    parser.add_argument(
        "--space-id",
        default=None,
        metavar="USER/NAME",
        help="with --with-demo: the Space (default: the repo id + '-demo')",
    )
    parser.add_argument(
        "--demo-requirement",
        default=None,
        metavar="PIP_SPEC",
        help="with --with-demo: how the Space installs av_emotion (default: av-emotion[demo]==<this version>; "
        "e.g. 'av-emotion[demo] @ git+https://github.com/you/av_emotion' for an unreleased version)",
    )
    parser.add_argument("--dry-run", action="store_true", help="list what would be uploaded; contact nobody")


def run(args: argparse.Namespace) -> int:
    """Push as `args` say; prints the commit URL (or, with --dry-run, the files)."""
    from av_emotion.demo.space import default_space_id, push_demo_space, space_files
    from av_emotion.hub.publishing import describe_plan, plan_upload, push_to_hub

    if (args.space_id or args.demo_requirement) and not args.with_demo:
        print("av-emotion push: error: --space-id and --demo-requirement need --with-demo", file=sys.stderr)
        return 2
    space_id = (args.space_id or default_space_id(args.repo_id)) if args.with_demo else None
    if args.dry_run:
        plan = plan_upload(args.model_dir, remote_code=args.remote_code)
        card = "" if args.keep_card else " (README.md is rendered again with the repo id before a real push)"
        print(f"would upload {len(plan.files)} files to {args.repo_id}{card}:")
        print("\n".join(describe_plan(plan)))
        if space_id:
            files = space_files(args.repo_id, args.demo_requirement)
            print(f"and {len(files)} files to the Space {space_id}:")
            print("\n".join(f"{len(content):>12,d}  {name}" for name, content in sorted(files.items())))
        return 0
    commit = push_to_hub(
        args.model_dir,
        args.repo_id,
        private=args.private,
        revision=args.revision,
        commit_message=args.commit_message,
        update_card=not args.keep_card,
        remote_code=args.remote_code,
        demo_space=space_id,
    )
    print(f"pushed {args.model_dir} to {getattr(commit, 'commit_url', args.repo_id)}")
    if space_id:
        space_commit = push_demo_space(args.repo_id, space_id, private=args.private, requirement=args.demo_requirement)
        print(f"pushed the demo Space to {getattr(space_commit, 'commit_url', space_id)}")
    return 0
