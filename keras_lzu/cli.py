"""The `lzu` command.

    lzu visualize IMAGE [--saliency ...] -o out.png
    lzu demo
    lzu export ...      lzu serve ...      lzu predict ...

Each subcommand imports what it needs only when it runs.
"""

import importlib
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

COMMANDS = {
    "visualize": ("keras_lzu.visualize", "visualize_main",
                  "draw saliency, grid, zoom and unzoom of an image"),
    "demo": ("keras_lzu.demo", "demo_main",
             "the end-to-end demo (make demo)"),
    "export": ("keras_lzu.serving.cli_commands", "export_main",
               "export a .keras model as a TF Serving SavedModel"),
    "serve": ("keras_lzu.serving.cli_commands", "serve_main",
              "run the local TF Serving-compatible gRPC/REST server"),
    "predict": ("keras_lzu.serving.cli_commands", "predict_main",
                "query a server with images"),
    "evaluate": ("keras_lzu.evaluation.cli", "evaluate_main",
                 "COCO box AP or mIoU of a saved model on a COCO dataset"),
    "train": ("keras_lzu.training.cli", "train_main",
              "train an LZU detector or segmenter on a COCO dataset"),
}


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        lines = [f"  {name:<10} {help_}" for name, (_, _, help_) in COMMANDS.items()]
        print("usage: lzu COMMAND [ARGS...]\n\ncommands:\n" + "\n".join(lines))
        if argv and argv[0] not in ("-h", "--help"):
            print(f"\nlzu: unknown command {argv[0]!r}", file=sys.stderr)
            return 2
        return 0
    module_name, function, _ = COMMANDS[argv[0]]
    from keras_lzu.extras import MissingExtraError

    try:
        command = getattr(importlib.import_module(module_name), function)
        return command(argv[1:]) or 0
    except MissingExtraError as error:
        print(f"lzu {argv[0]}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
