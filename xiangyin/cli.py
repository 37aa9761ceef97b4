"""The `xiangyin` command: run, chat, migrate, bot, actions, knowledge, cases, staff, generate."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from xiangyin.settings import settings


def _cmd_chat(args: argparse.Namespace) -> int:
    from playground.chat import run_chat

    return run_chat(args.url, settings().secret, sender=args.sender)


def _cmd_knowledge_check(args: argparse.Namespace) -> int:
    from xiangyin.commands.knowledge import main_check

    return main_check(args)


def _cmd_knowledge_import(args: argparse.Namespace) -> int:
    from xiangyin.commands.knowledge import main_import

    return main_import(args)


def _cmd_generate(args: argparse.Namespace) -> int:
    from nlu_components.dictionary import generate
    from knowledge.schema import KnowledgeError

    try:
        written = generate(Path(args.root))
        for path in written:
            print(f"wrote {path}")
        if not written:
            print("generated files are up to date")
    except KnowledgeError as error:
        print(f"knowledge error: {error}", file=sys.stderr)
        return 1
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from xiangyin.run import run_all

    return run_all(model=args.model)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every sub-command."""
    parser = argparse.ArgumentParser(prog="xiangyin", description="乡音 — 村民办事助手")
    sub = parser.add_subparsers(dest="command", required=True)

    chat = sub.add_parser("chat", help="chat with the assistant in the terminal")
    chat.add_argument("--url", default=settings().rasa_url, help="Rasa server base URL")
    chat.add_argument("--sender", default=None, help="conversation id (default: a new one)")
    chat.set_defaults(func=_cmd_chat)

    knowledge = sub.add_parser("knowledge", help="county knowledge in knowledge/")
    ksub = knowledge.add_subparsers(dest="knowledge_command", required=True)
    check = ksub.add_parser("check", help="validate every knowledge file")
    check.add_argument("--root", default=str(settings().knowledge_dir))
    check.set_defaults(func=_cmd_knowledge_check)
    imp = ksub.add_parser("import-villages", help="replace the sample villages with a CSV")
    imp.add_argument("csv", help="CSV with header township,village,aliases,lat,lon")
    imp.add_argument("--root", default=str(settings().knowledge_dir))
    imp.set_defaults(func=_cmd_knowledge_import)

    gen = sub.add_parser("generate", help="write the jieba dictionary and lookup tables")
    gen.add_argument("--root", default=os.getcwd())
    gen.set_defaults(func=_cmd_generate)

    run = sub.add_parser("run", help="start Rasa, the action server and the chat")
    run.add_argument("--model", default="models/xiangyin.tar.gz")
    run.set_defaults(func=_cmd_run)

    from xiangyin.commands import cases, database, outbox, serve, staff

    for command in (cases, staff, outbox, database, serve):
        command.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `xiangyin` console script."""
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)
