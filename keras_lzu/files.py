"""Files a user keeps are written atomically: complete or not at all."""

import os
import tempfile


def write_atomically(path, write, binary=False):
    """Writes a file through a temporary file renamed into place.

    `path` is then either its old content (or absent) or the complete new
    file, never a partial one, even if `write` raises or the process dies.
    The file gets the permissions of a newly created file (0666 less the
    umask), as `open` would give it.

    Args:
        path: the file to write; its directory must exist.
        write: function called with the open temporary file.
        binary: open the temporary file in binary mode.

    Returns:
        `path`.

    Example:

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "note.txt")
    >>> write_atomically(path, lambda f: f.write("done")) == path
    True
    >>> open(path).read()
    'done'
    """
    directory = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(
        dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        with os.fdopen(handle, "wb" if binary else "w") as f:
            write(f)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    return path
