"""`av-emotion push`: publish a saved model (weights, config, processor, card, pictures) to the Hub in one commit.

Examples:
    av-emotion push runs/avt_ca_ravdess/fold_0 --repo-id alice/avt-ca-ravdess-fold0
    av-emotion push runs/avt_ca_ravdess/fold_0 --repo-id alice/avt-ca-ravdess --private --revision fold0
    av-emotion push runs/avt_ca_ravdess/fold_0 --repo-id alice/avt-ca-ravdess --dry-run

Log in first with `hf auth login` (or set HF_TOKEN): the token is read by huggingface_hub, never by this
command, and never printed.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the `push` arguments to `parser`."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = (
        "examples:\n"
        "  av-emotion push runs/avt_ca_ravdess/fold_0 --repo-id alice/avt-ca-ravdess-fold0\n"
        "  av-emotion push runs/avt_ca_ravdess/fold_0 --repo-id alice/avt-ca-ravdess --private --revision fold0\n"
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
    parser.add_argument("--dry-run", action="store_true", help="list what would be uploaded; contact nobody")


def run(args: argparse.Namespace) -> int:
    """Push as `args` say; prints the commit URL (or, with --dry-run, the files)."""
    from av_emotion.hub.publishing import describe_plan, plan_upload, push_to_hub

    if args.dry_run:
        plan = plan_upload(args.model_dir, remote_code=args.remote_code)
        card = "" if args.keep_card else " (README.md is rendered again with the repo id before a real push)"
        print(f"would upload {len(plan.files)} files to {args.repo_id}{card}:")
        print("\n".join(describe_plan(plan)))
        return 0
    commit = push_to_hub(
        args.model_dir,
        args.repo_id,
        private=args.private,
        revision=args.revision,
        commit_message=args.commit_message,
        update_card=not args.keep_card,
        remote_code=args.remote_code,
    )
    print(f"pushed {args.model_dir} to {getattr(commit, 'commit_url', args.repo_id)}")
    return 0
