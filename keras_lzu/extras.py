"""Optional dependencies: which pip extra of keras-lzu provides them.

A module that needs an optional package imports it with `import_optional`,
so that a missing package is reported as the `pip install` line that adds
it, not as a bare `ModuleNotFoundError` deep in a traceback.
"""

import importlib


class MissingExtraError(ImportError):
    """An optional package is missing; the message names the extra that
    installs it. `lzu` prints it instead of a traceback."""


def import_optional(module, extra, purpose):
    """Imports `module`, or raises an ImportError naming the extra to install.

    Args:
        module: dotted module name, e.g. `"pycocotools.cocoeval"`.
        extra: the keras-lzu extra that installs it, e.g. `"eval"`.
        purpose: what needs it, for the message, e.g. `"COCO evaluation"`.

    Returns:
        The imported module.

    Raises:
        MissingExtraError: an ImportError: the module (or one it imports)
            is missing; the message says `pip install 'keras-lzu[<extra>]'`.

    Example:

    >>> import_optional("json", "eval", "reading JSON").__name__
    'json'
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:
        missing = getattr(error, "name", None) or module
        raise MissingExtraError(
            f"{purpose} needs the optional package {missing!r}, which is not "
            f"installed: pip install 'keras-lzu[{extra}]'"
        ) from error
