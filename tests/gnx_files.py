"""Hand-editing exported files for the tests that check bad files are refused: copy a zip
with some entries rewritten."""
import json
import zipfile

from graphnet.saving.archive import npy_bytes, parse_npy


def rewrite(src, dst, replace):
    """Copy zip ``src`` to ``dst`` with ``replace[name](bytes) -> bytes`` applied."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if info.filename in replace:
                data = replace[info.filename](data)
            zout.writestr(info.filename, data, compress_type=info.compress_type)
    return dst


def edit_array(name, fn):
    """A ``rewrite`` edit of the .npy entry ``name``: ``fn(array) -> array``."""
    def edit(data):
        array = parse_npy(data, ValueError)
        return npy_bytes(fn(array.copy()))
    return {name: edit}


def edit_manifest(fn):
    """A ``rewrite`` edit of manifest.json: ``fn(dict)`` changes it in place."""
    def edit(data):
        obj = json.loads(data)
        fn(obj)
        return json.dumps(obj).encode()
    return {"manifest.json": edit}
