"""Image sizes read from JPEG / PNG headers, without decoding pixels.

The server checks an encoded image against its pixel limit before handing it
to the model's decoder, so a small file declaring a huge image cannot make
it allocate the decoded size.
"""

import struct

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Start-of-frame markers carry the image size (all SOFn except DHT, JPG, DAC).
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7,
             0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
# Markers without a length field.
_JPEG_STANDALONE = {0x01, 0xD0, 0xD1, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7,
                    0xD8}


def image_size(data):
    """Returns `(format, height, width)` of a JPEG or PNG file's bytes.

    Args:
        data: the file's bytes.

    Returns:
        `("png" | "jpeg", height, width)`.

    Raises:
        ValueError: if `data` is neither a PNG nor a JPEG with a readable
            header.
    """
    if data.startswith(_PNG_SIGNATURE):
        if len(data) < 24 or data[12:16] != b"IHDR":
            raise ValueError("truncated PNG header")
        width, height = struct.unpack(">II", data[16:24])
        return "png", height, width
    if data.startswith(b"\xff\xd8"):
        return ("jpeg",) + _jpeg_size(data)
    raise ValueError("not a JPEG or PNG file")


def _jpeg_size(data):
    position = 2
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            raise ValueError("corrupt JPEG marker")
        marker = data[position + 1]
        if marker == 0xFF:  # Fill byte before a marker.
            position += 1
            continue
        if marker in _JPEG_STANDALONE:
            position += 2
            continue
        if marker == 0xD9:
            break
        (length,) = struct.unpack(">H", data[position + 2:position + 4])
        if length < 2:
            raise ValueError("corrupt JPEG segment length")
        if marker in _JPEG_SOF:
            if position + 9 > len(data):
                break
            height, width = struct.unpack(
                ">HH", data[position + 5:position + 9]
            )
            return height, width
        position += 2 + length
    raise ValueError("JPEG without a frame header")
